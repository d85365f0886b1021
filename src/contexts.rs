//! What the kernel asks of all contexts together. The list itself is in
//! `lib.rs` (`CONTEXTS`), the one place that names them.

use utoipa::openapi::OpenApiBuilder;
use utoipa::openapi::tag::TagBuilder;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::context::Context;

/// Every context, as `lib.rs` lists them.
pub fn all() -> &'static [&'static dyn Context] {
    crate::CONTEXTS
}

/// The routes of every context, with their OpenAPI tags.
pub fn routes() -> OpenApiRouter<AppState> {
    let tags = all()
        .iter()
        .flat_map(|context| context.tags())
        .map(|tag| {
            TagBuilder::new()
                .name(tag.name)
                .description(Some(tag.description))
                .build()
        })
        .collect::<Vec<_>>();
    let document = OpenApiBuilder::new().tags(Some(tags)).build();
    all()
        .iter()
        .fold(OpenApiRouter::with_openapi(document), |router, context| {
            router.merge(context.routes())
        })
}
