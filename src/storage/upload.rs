//! Which files are taken: a size limit, a list of accepted types, and file
//! names that cannot be taken for a path or hide what they are. The content
//! itself is looked at in `sniff`, since a declared type is whatever the
//! sender says.

use super::sniff::{content_matches, essence, guess, is_declared, sniff};

/// The default size limit of an upload: 10 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// The longest file name accepted, in bytes: what most file systems allow,
/// so a file saved back to disk keeps its name.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Accepted by default: documents, photos (HEIC is what iPhones take) and
/// plain text. DICOM is recognised but not accepted by default: studies are
/// usually far over the limit and belong in a PACS, not a message.
pub const DEFAULT_ALLOWED_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heic",
    "text/plain",
    "text/csv",
];

/// Which files may be uploaded: to a message, or wherever a context takes
/// files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Accepted MIME types, such as `image/png`; compared without case or
    /// parameters.
    pub allowed_types: Vec<String>,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            allowed_types: DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }
}

/// A file the policy accepts, with the type it was checked to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedFile {
    /// The name as given, trimmed of surrounding white space.
    pub file_name: String,
    /// The declared type without parameters, or the sniffed one.
    pub mime_type: String,
    pub size: u64,
}

/// Why a file was refused: the form field at fault (`file`, `file_name` or
/// `content_type`) and a reason meant for the person uploading.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct UploadRefusal {
    pub field: &'static str,
    pub reason: String,
    /// The bytes sent are over the size limit (an HTTP 413), rather than
    /// the file being unfit or a declared size being refused.
    pub over_limit: bool,
}

impl UploadRefusal {
    pub(super) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
            over_limit: false,
        }
    }
}

impl UploadPolicy {
    /// Accepts a file when its name is a plain file name, its size is within
    /// the limit, and its type is accepted and matches its content. With no
    /// declared type (or `application/octet-stream`), the content decides.
    pub fn check(
        &self,
        file_name: &str,
        declared_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<AcceptedFile, UploadRefusal> {
        let file_name = check_file_name(file_name)?;
        self.check_size(bytes)?;
        let mime_type = self.check_type(&file_name, declared_type, bytes)?;
        Ok(AcceptedFile {
            file_name,
            mime_type,
            size: bytes.len() as u64,
        })
    }

    /// Checks what a pre-authorised upload announces, before any byte is
    /// sent: the name, the size (field `size`) and the declared type. The
    /// bytes themselves get [`UploadPolicy::check`] when they arrive.
    pub fn check_declared(
        &self,
        file_name: &str,
        declared_type: &str,
        size: u64,
    ) -> Result<AcceptedFile, UploadRefusal> {
        let file_name = check_file_name(file_name)?;
        if size == 0 {
            return Err(UploadRefusal::new("size", "must be at least 1 byte"));
        }
        if size > self.max_bytes {
            return Err(UploadRefusal::new("size", too_large(size, self.max_bytes)));
        }
        let mime_type = essence(declared_type);
        if !is_declared(&mime_type) {
            return Err(self.refuse_type("declare the file's type"));
        }
        if !self.allowed_types.iter().any(|t| essence(t) == mime_type) {
            let reason = format!("{mime_type} is not an accepted type");
            return Err(self.refuse_type(&reason));
        }
        Ok(AcceptedFile {
            file_name,
            mime_type,
            size,
        })
    }

    /// Refuses an empty file, or one over the limit (`over_limit`).
    pub fn check_size(&self, bytes: &[u8]) -> Result<(), UploadRefusal> {
        let size = bytes.len() as u64;
        if size == 0 {
            return Err(UploadRefusal::new("file", "is empty"));
        }
        if size > self.max_bytes {
            return Err(UploadRefusal {
                over_limit: true,
                ..UploadRefusal::new("file", too_large(size, self.max_bytes))
            });
        }
        Ok(())
    }

    fn check_type(
        &self,
        file_name: &str,
        declared_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<String, UploadRefusal> {
        let sniffed = sniff(bytes);
        let mime_type = match declared_type.map(essence).filter(|t| is_declared(t)) {
            Some(declared) => declared,
            None => guess(sniffed, file_name, bytes)
                .ok_or_else(|| self.refuse_type("could not tell the type of the content"))?,
        };
        if !self.allowed_types.iter().any(|t| essence(t) == mime_type) {
            let reason = format!("{mime_type} is not an accepted type");
            return Err(self.refuse_type(&reason));
        }
        content_matches(&mime_type, sniffed, bytes)?;
        Ok(mime_type)
    }

    fn refuse_type(&self, reason: &str) -> UploadRefusal {
        let accepted = self.allowed_types.join(", ");
        UploadRefusal::new("content_type", format!("{reason}; accepted: {accepted}"))
    }
}

/// Refuses names that could be taken for a path, hide characters, or that
/// a file system would not store.
fn check_file_name(file_name: &str) -> Result<String, UploadRefusal> {
    let name = file_name.trim();
    let reason = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_FILE_NAME_BYTES {
        format!(
            "is {} bytes long; the limit is {MAX_FILE_NAME_BYTES}",
            name.len()
        )
    } else if name.contains(['/', '\\']) {
        "contains a path separator (/ or \\)".to_owned()
    } else if name.chars().any(char::is_control) {
        "contains a control character".to_owned()
    } else if name.chars().any(is_direction_control) {
        // U+202E shows `scan\u{202E}fdp.exe` as `scanexe.pdf`.
        "contains a text direction control character".to_owned()
    } else if name == "." || name == ".." {
        "is not a file name".to_owned()
    } else {
        return Ok(name.to_owned());
    };
    Err(UploadRefusal::new("file_name", reason))
}

fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// "is 12 MiB; the limit is 10 MiB", in bytes when the rounded sizes would
/// read the same.
fn too_large(size: u64, limit: u64) -> String {
    let (shown_size, shown_limit) = (human_size(size), human_size(limit));
    if shown_size == shown_limit {
        format!("is {size} bytes; the limit is {limit} bytes")
    } else {
        format!("is {shown_size}; the limit is {shown_limit}")
    }
}

/// A size in the largest binary unit it reaches, to one decimal, integer
/// arithmetic only: `12 MiB`, `10.5 MiB`, `900 KiB`, `12 bytes`.
fn human_size(bytes: u64) -> String {
    const UNITS: &[(u64, &str)] = &[(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    let Some(&(unit, name)) = UNITS.iter().find(|(unit, _)| bytes >= *unit) else {
        return format!("{bytes} bytes");
    };
    let tenths = (u128::from(bytes) * 10 + u128::from(unit) / 2) / u128::from(unit);
    match tenths % 10 {
        0 => format!("{} {name}", tenths / 10),
        rest => format!("{}.{rest} {name}", tenths / 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn refusal(file_name: &str, declared: Option<&str>, bytes: &[u8]) -> UploadRefusal {
        UploadPolicy::default()
            .check(file_name, declared, bytes)
            .unwrap_err()
    }

    fn accepted_type(file_name: &str, declared: Option<&str>, bytes: &[u8]) -> String {
        let accepted = UploadPolicy::default().check(file_name, declared, bytes);
        accepted.unwrap().mime_type
    }

    fn heif(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(b"\0\0\0\x08meta");
        bytes
    }

    #[test]
    fn a_pdf_within_the_limit_is_accepted() {
        let accepted = UploadPolicy::default()
            .check("  referral.pdf ", Some("application/pdf"), PDF)
            .unwrap();
        assert_eq!(
            accepted,
            AcceptedFile {
                file_name: "referral.pdf".to_owned(),
                mime_type: "application/pdf".to_owned(),
                size: PDF.len() as u64,
            }
        );
    }

    #[test]
    fn an_oversize_file_is_refused_with_both_sizes() {
        let mut big = PDF.to_vec();
        big.resize(12 * 1024 * 1024, b' ');
        let refused = refusal("scan.pdf", Some("application/pdf"), &big);
        assert_eq!(refused.field, "file");
        assert_eq!(refused.reason, "is 12 MiB; the limit is 10 MiB");

        big.resize(10 * 1024 * 1024 + 1, b' ');
        let refused = refusal("scan.pdf", Some("application/pdf"), &big);
        assert_eq!(
            refused.reason,
            "is 10485761 bytes; the limit is 10485760 bytes"
        );

        big.truncate(10 * 1024 * 1024);
        assert!(
            UploadPolicy::default()
                .check("scan.pdf", None, &big)
                .is_ok()
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        let refused = refusal("empty.txt", Some("text/plain"), b"");
        assert_eq!(
            (refused.field, refused.reason.as_str()),
            ("file", "is empty")
        );
    }

    #[test]
    fn a_type_outside_the_list_is_refused_with_the_list() {
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>";
        let refused = refusal("chart.svg", Some("image/svg+xml"), svg);
        assert_eq!(refused.field, "content_type");
        assert_eq!(
            refused.reason,
            "image/svg+xml is not an accepted type; accepted: application/pdf, image/png, \
             image/jpeg, image/gif, image/webp, image/heic, text/plain, text/csv"
        );
        let dicom = [vec![0u8; 128], b"DICM".to_vec()].concat();
        let refused = refusal("study.dcm", None, &dicom);
        assert!(
            refused
                .reason
                .starts_with("application/dicom is not an accepted type"),
            "{refused}"
        );
    }

    #[test]
    fn a_declared_type_that_the_content_contradicts_is_refused() {
        let refused = refusal("photo.png", Some("image/png"), PDF);
        assert_eq!(refused.field, "content_type");
        assert_eq!(refused.reason, "says image/png but the content is a PDF");

        let refused = refusal("photo.png", Some("image/png"), b"just some text");
        assert_eq!(
            refused.reason,
            "says image/png but the content is not a PNG image"
        );
        let refused = refusal("notes.txt", Some("text/plain"), PNG);
        assert_eq!(
            refused.reason,
            "says text/plain but the content is a PNG image"
        );
        let avif = heif(b"avif", &[b"mif1", b"avif"]);
        let refused = refusal("photo.heic", Some("image/heic"), &avif);
        assert_eq!(
            refused.reason,
            "says image/heic but the content is not a HEIC image"
        );
    }

    #[test]
    fn bad_file_names_are_refused() {
        let long = "a".repeat(252) + ".pdf";
        let cases = [
            ("", "is empty"),
            ("   ", "is empty"),
            (long.as_str(), "is 256 bytes long; the limit is 255"),
            ("../../etc/passwd", "contains a path separator (/ or \\)"),
            ("C:\\Users\\scan.pdf", "contains a path separator (/ or \\)"),
            ("scan\n.pdf", "contains a control character"),
            ("scan\u{0}.pdf", "contains a control character"),
            (
                "invoice\u{202E}fdp.exe",
                "contains a text direction control character",
            ),
            ("..", "is not a file name"),
        ];
        for (name, reason) in cases {
            let refused = refusal(name, Some("application/pdf"), PDF);
            assert_eq!(refused.field, "file_name", "{name:?}");
            assert_eq!(refused.reason, reason, "{name:?}");
        }
        let ok = "Überweisung – Dr. Müller (2).pdf";
        let accepted = UploadPolicy::default().check(ok, None, PDF).unwrap();
        assert_eq!(accepted.file_name, ok);
    }

    #[test]
    fn text_must_be_utf8_without_nul() {
        let refused = refusal("notes.txt", Some("text/plain"), b"blood pressure\x00120/80");
        assert_eq!(refused.field, "content_type");
        assert_eq!(
            refused.reason,
            "says text/plain but the content is not text (it contains a NUL byte)"
        );
        let refused = refusal("notes.csv", Some("text/csv"), b"a,b\n\xff\xfe,1\n");
        assert_eq!(
            refused.reason,
            "says text/csv but the content is not UTF-8 text"
        );
        assert_eq!(
            accepted_type(
                "notes.txt",
                Some("Text/Plain; charset=UTF-8"),
                "Blutdruck 120/80 – gut".as_bytes()
            ),
            "text/plain"
        );
    }

    #[test]
    fn without_a_declared_type_the_content_decides() {
        assert_eq!(accepted_type("scan", None, PDF), "application/pdf");
        assert_eq!(
            accepted_type("x.bin", Some("application/octet-stream"), PNG),
            "image/png"
        );
        assert_eq!(
            accepted_type("photo", Some(""), &[0xFF, 0xD8, 0xFF, 0xE0]),
            "image/jpeg"
        );
        assert_eq!(accepted_type("a.gif", None, b"GIF89a\x01\x00"), "image/gif");
        assert_eq!(
            accepted_type("a.webp", None, b"RIFF\x24\0\0\0WEBPVP8 "),
            "image/webp"
        );
        let heic = heif(b"mif1", &[b"mif1", b"heic"]);
        assert_eq!(accepted_type("IMG_0001.HEIC", None, &heic), "image/heic");
        assert_eq!(
            accepted_type("labs.CSV", None, b"test,value\nK,4.1\n"),
            "text/csv"
        );
        assert_eq!(accepted_type("labs", None, b"K 4.1"), "text/plain");

        let refused = refusal("blob", None, b"\x00\x01\x02\x03");
        assert_eq!(refused.field, "content_type");
        assert!(
            refused
                .reason
                .starts_with("could not tell the type of the content; accepted: "),
            "{refused}"
        );
    }

    #[test]
    fn a_policy_may_accept_types_it_cannot_sniff() {
        let policy = UploadPolicy {
            max_bytes: 100,
            allowed_types: vec!["application/msword".to_owned()],
        };
        let doc = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
        let accepted = policy.check("letter.doc", Some("application/msword"), doc);
        assert_eq!(accepted.unwrap().mime_type, "application/msword");
        let refused = policy.check("letter.doc", Some("application/msword"), PDF);
        assert_eq!(
            refused.unwrap_err().reason,
            "says application/msword but the content is a PDF"
        );
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(900 * 1024), "900 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_size(10 * 1024 * 1024 + 512 * 1024), "10.5 MiB");
        assert_eq!(human_size(3 << 30), "3 GiB");
    }
}
