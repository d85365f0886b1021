//! Free text that can identify a person is sealed at rest: each field's row
//! read directly holds no clear value while the API still answers it, rows
//! stored in clear before are sealed when the server starts, and a scan of
//! everything the server writes (database files, a dump, logs, the file
//! store) finds no marker that was sent through the API.

mod byte_scan;
mod fields;
mod legacy;

/// Whether `needle` appears in `haystack`, ignoring ASCII case (a value
/// may be stored upper- or lower-cased).
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.to_ascii_lowercase();
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Fails unless `sealed` is a sealed value without `marker` in it.
pub fn sealed_without(sealed: Option<&carebase::crypto::Sealed>, marker: &str) {
    let sealed = sealed.expect("the value is sealed");
    assert!(sealed.key_id().is_some(), "a well-formed sealed value");
    assert!(!holds(sealed.as_bytes(), marker), "`{marker}` is in clear");
}
