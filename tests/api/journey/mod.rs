//! From lead to patient (seed 001): conversion onto the care journey, the
//! journey's stages and coaches, portal invitations, and timelines that
//! carry a lead's history over to its patient. One module per
//! sub-feature; what they share is in `support`.

mod cases;
mod coaching;
mod conversion;

pub use cases::role_cases;
