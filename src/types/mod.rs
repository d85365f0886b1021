//! Values the kernel and every context share, each parsed once at the
//! boundary: a handler that holds one knows it is well-formed.

mod email;
mod phone;

pub use email::Email;
pub use phone::{Phone, normalize as normalize_phone};
