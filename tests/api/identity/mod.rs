//! Identity over the real API: sign-up, confirmation, sign-in, throttling,
//! tokens, sessions and their limits, the second factor, API keys,
//! invitations, recovery, and email and phone changes. One module per
//! sub-feature; what they share is in `support`.

mod api_keys;
mod cases;
mod codes;
mod email_change;
mod invitations;
mod outbox_reach;
mod powers;
mod sessions;
mod sign_in;
mod sign_up;
mod throttling;

pub use cases::role_cases;
