//! What a file's content is, from its first bytes: the signatures of the
//! binary types the policy knows, and text for the text types. The type a
//! browser declares is whatever the sender says, so it is believed only when
//! the content agrees.

use super::upload::UploadRefusal;

/// Types whose content is checked to be UTF-8 text without NUL bytes.
const TEXT_TYPES: &[&str] = &["text/plain", "text/csv"];

/// What a browser sends when it does not know: no claim about the content.
const UNKNOWN_TYPE: &str = "application/octet-stream";

/// `Text/Plain; charset=utf-8` → `text/plain`.
pub(super) fn essence(declared: &str) -> String {
    let essence = declared.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// Whether the sender claimed a type at all.
pub(super) fn is_declared(mime_type: &str) -> bool {
    !mime_type.is_empty() && mime_type != UNKNOWN_TYPE
}

/// The type of undeclared content: its signature, else text when it is
/// text (CSV when so named), else unknown.
pub(super) fn guess(sniffed: Option<&Signature>, file_name: &str, bytes: &[u8]) -> Option<String> {
    if let Some(signature) = sniffed {
        return Some(signature.mime_type.to_owned());
    }
    if text_problem(bytes).is_some() {
        return None;
    }
    let csv = file_name.to_ascii_lowercase().ends_with(".csv");
    Some(if csv { "text/csv" } else { "text/plain" }.to_owned())
}

/// Checks the content is what `mime_type` says: the signature of a binary
/// type, or text for a text type. A type without a known signature is
/// accepted unless the content has another type's signature.
pub(super) fn content_matches(
    mime_type: &str,
    sniffed: Option<&Signature>,
    bytes: &[u8],
) -> Result<(), UploadRefusal> {
    let mismatch = |what: &str| {
        UploadRefusal::new(
            "content_type",
            format!("says {mime_type} but the content is {what}"),
        )
    };
    if let Some(signature) = sniffed {
        if signature.mime_type == mime_type {
            return Ok(());
        }
        return Err(mismatch(signature.name));
    }
    if TEXT_TYPES.contains(&mime_type) {
        return match text_problem(bytes) {
            None => Ok(()),
            Some(problem) => Err(mismatch(problem)),
        };
    }
    match SIGNATURES.iter().find(|s| s.mime_type == mime_type) {
        Some(expected) => Err(mismatch(&format!("not {}", expected.name))),
        None => Ok(()),
    }
}

/// Why `bytes` is not text, if it is not.
fn text_problem(bytes: &[u8]) -> Option<&'static str> {
    if std::str::from_utf8(bytes).is_err() {
        Some("not UTF-8 text")
    } else if bytes.contains(&0) {
        Some("not text (it contains a NUL byte)")
    } else {
        None
    }
}

/// A binary type recognised by its first bytes.
pub(super) struct Signature {
    mime_type: &'static str,
    /// How a refusal names it: "says image/png but the content is a PDF".
    name: &'static str,
    matches: fn(&[u8]) -> bool,
}

const SIGNATURES: &[Signature] = &[
    Signature {
        mime_type: "application/pdf",
        name: "a PDF",
        matches: |b| b.starts_with(b"%PDF-"),
    },
    Signature {
        mime_type: "image/png",
        name: "a PNG image",
        matches: |b| b.starts_with(b"\x89PNG\r\n\x1a\n"),
    },
    Signature {
        mime_type: "image/jpeg",
        name: "a JPEG image",
        matches: |b| b.starts_with(&[0xFF, 0xD8, 0xFF]),
    },
    Signature {
        mime_type: "image/gif",
        name: "a GIF image",
        matches: |b| b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"),
    },
    Signature {
        mime_type: "image/webp",
        name: "a WebP image",
        matches: |b| b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP",
    },
    Signature {
        mime_type: "image/heic",
        name: "a HEIC image",
        matches: is_heic,
    },
    Signature {
        mime_type: "application/dicom",
        name: "a DICOM file",
        matches: |b| b.len() >= 132 && &b[128..132] == b"DICM",
    },
];

pub(super) fn sniff(bytes: &[u8]) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| (s.matches)(bytes))
}

/// The ISO-BMFF brands of HEVC-coded HEIF, as iPhones write it. `mif1`
/// alone is not enough: AVIF files carry it too.
const HEIC_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
];

/// An `ftyp` box first whose major or compatible brands include a HEIC one.
fn is_heic(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..16) else {
        return false;
    };
    if &header[4..8] != b"ftyp" {
        return false;
    }
    let declared = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let end = usize::try_from(declared).map_or(bytes.len(), |n| n.min(bytes.len()));
    let compatible = bytes.get(16..end).unwrap_or_default().chunks_exact(4);
    std::iter::once(&header[8..12])
        .chain(compatible)
        .any(|brand| HEIC_BRANDS.iter().any(|heic| brand == heic.as_slice()))
}
