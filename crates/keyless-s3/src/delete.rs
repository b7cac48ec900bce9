//! `DeleteObjects` decided key by key, as S3 decides it: the `<Delete>` document read strictly,
//! the document that goes on with only the objects allowed, and the `<DeleteResult>` that
//! comes back with an `AccessDenied` `<Error>` added for each object refused.
//!
//! S3 evaluates `s3:DeleteObject` (`s3:DeleteObjectVersion` for an object with a
//! `VersionId`) per object and answers `200` with the refused objects among the result's
//! errors, deleting the others; in `Quiet` mode the result lists only the errors, so the
//! refused objects are there in both modes.

use std::fmt::Write as _;

use crate::address::MAX_KEY_BYTES;
use crate::error::{S3Error, element};
use crate::xml;

/// The most objects one `DeleteObjects` request may name.
pub const MAX_DELETE_KEYS: usize = 1000;
/// The largest `DeleteObjects` body read: 1,000 keys of 1,024 bytes, escaped, with room.
pub const MAX_DELETE_BODY: usize = 8 << 20;
/// The largest `DeleteResult` read back from the backend to add refused objects to: 1,000
/// entries, each with a key, a version and a message, escaped, with room.
pub const MAX_DELETE_RESULT: usize = 16 << 20;
/// S3's namespace, on the documents the gateway writes.
const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A `<Delete>` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// `<Quiet>true</Quiet>`: the result lists only the errors.
    pub quiet: bool,
    /// The objects, in order.
    pub objects: Vec<ObjectToDelete>,
}

/// One `<Object>` of a `<Delete>` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectToDelete {
    /// The key, decoded.
    pub key: String,
    /// `<VersionId>`, when not empty.
    pub version_id: Option<String>,
    /// `<ETag>`, `<LastModifiedTime>` and `<Size>` (S3's conditional deletes), as sent.
    pub conditions: Vec<(&'static str, String)>,
}

/// The conditional fields an `<Object>` may carry, in S3's order.
const CONDITIONS: [&str; 3] = ["ETag", "LastModifiedTime", "Size"];

impl DeleteRequest {
    /// Reads S3's `<Delete>` document: an optional `<Quiet>` (`true` or `false`), then 1 to
    /// 1,000 `<Object>` entries, each with one non-empty `<Key>` and optionally `<VersionId>`,
    /// `<ETag>`, `<LastModifiedTime>` and `<Size>`. Anything else, a key with a control
    /// character XML cannot carry back, or more than 1,000 entries is `MalformedXML`; a key
    /// over 1,024 bytes is `KeyTooLongError`; a body over [`MAX_DELETE_BODY`] is
    /// `MaxMessageLengthExceeded`.
    pub fn parse(body: &[u8]) -> Result<DeleteRequest, S3Error> {
        if body.len() > MAX_DELETE_BODY {
            return Err(S3Error::MaxMessageLengthExceeded);
        }
        // The root, `Quiet`, and per entry `Object` and its five fields.
        let root = xml::parse(body, 2 + 6 * MAX_DELETE_KEYS)?;
        if root.name != "Delete" {
            return Err(S3Error::MalformedXml);
        }
        root.only(&["Quiet", "Object"])?;
        let quiet = match root.leaf("Quiet")?.map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(S3Error::MalformedXml),
        };
        let mut objects = Vec::new();
        for object in root.all("Object") {
            object.only(&["Key", "VersionId", "ETag", "LastModifiedTime", "Size"])?;
            let key = object
                .leaf("Key")?
                .filter(|k| !k.is_empty())
                .ok_or(S3Error::MalformedXml)?;
            if key.len() > MAX_KEY_BYTES {
                return Err(S3Error::KeyTooLong);
            }
            // Every key is written again (to the backend, in an error): one that XML 1.0
            // cannot carry would reach the backend as another key.
            if key
                .chars()
                .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
            {
                return Err(S3Error::MalformedXml);
            }
            let mut conditions = Vec::new();
            for field in CONDITIONS {
                if let Some(value) = object.leaf(field)? {
                    conditions.push((field, value.to_owned()));
                }
            }
            let version_id = object.leaf("VersionId")?.filter(|v| !v.is_empty());
            objects.push(ObjectToDelete {
                key: key.to_owned(),
                version_id: version_id.map(str::to_owned),
                conditions,
            });
        }
        if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
            return Err(S3Error::MalformedXml);
        }
        Ok(DeleteRequest { quiet, objects })
    }

    /// The `<Delete>` document of the objects `keep` says to keep, in order, with the same
    /// `Quiet`: what goes to the backend when some objects are refused.
    pub fn to_xml(&self, keep: impl Fn(usize) -> bool) -> String {
        let mut out = String::with_capacity(128 + self.objects.len() * 64);
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"{NAMESPACE}\">"
        );
        if self.quiet {
            out.push_str("<Quiet>true</Quiet>");
        }
        for (index, object) in self.objects.iter().enumerate() {
            if !keep(index) {
                continue;
            }
            out.push_str("<Object>");
            element(&mut out, "Key", &object.key);
            if let Some(version_id) = &object.version_id {
                element(&mut out, "VersionId", version_id);
            }
            for (name, value) in &object.conditions {
                element(&mut out, name, value);
            }
            out.push_str("</Object>");
        }
        out.push_str("</Delete>");
        out
    }
}

/// The `<Error>` of a refused object, as S3 writes it: `Key`, `VersionId`, `Code`
/// `AccessDenied`, `Message` `Access Denied`.
fn refused_error(out: &mut String, object: &ObjectToDelete) {
    out.push_str("<Error>");
    element(out, "Key", &object.key);
    if let Some(version_id) = &object.version_id {
        element(out, "VersionId", version_id);
    }
    element(out, "Code", "AccessDenied");
    element(out, "Message", "Access Denied");
    out.push_str("</Error>");
}

/// The `<DeleteResult>` of a request whose every object was refused: one `AccessDenied`
/// error each, nothing deleted.
pub fn refused_result<'o>(refused: impl IntoIterator<Item = &'o ObjectToDelete>) -> String {
    let mut out =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"{NAMESPACE}\">");
    for object in refused {
        refused_error(&mut out, object);
    }
    out.push_str("</DeleteResult>");
    out
}

/// The backend's `<DeleteResult>` with an `AccessDenied` error added for each refused object,
/// after its own entries. The backend's document must be a well-formed `DeleteResult` of at
/// most [`MAX_DELETE_RESULT`] bytes; anything else is `InternalError` (it is the backend's
/// answer, not the client's).
pub fn merge_refused<'o>(
    backend: &[u8],
    refused: impl IntoIterator<Item = &'o ObjectToDelete>,
) -> Result<Vec<u8>, S3Error> {
    if backend.len() > MAX_DELETE_RESULT {
        return Err(S3Error::InternalError);
    }
    // Deleted (Key, VersionId, DeleteMarker, DeleteMarkerVersionId) or Error (Key, VersionId,
    // Code, Message) per entry, and the root.
    let root = xml::parse(backend, 1 + 5 * MAX_DELETE_KEYS).map_err(|_| S3Error::InternalError)?;
    if root.name != "DeleteResult" {
        return Err(S3Error::InternalError);
    }
    let text = std::str::from_utf8(backend).map_err(|_| S3Error::InternalError)?;
    let document = text.trim_end();
    let mut errors = String::new();
    for object in refused {
        refused_error(&mut errors, object);
    }
    let mut out = String::with_capacity(document.len() + errors.len() + 32);
    if let Some(open) = document.strip_suffix("/>") {
        // `<DeleteResult …/>`: nothing deleted and no error (a quiet success). The root is
        // the document's last start tag.
        let start = open.rfind('<').ok_or(S3Error::InternalError)?;
        let name_end = open[start + 1..]
            .find(|c: char| c.is_ascii_whitespace())
            .map_or(open.len(), |end| start + 1 + end);
        let name = &open[start + 1..name_end];
        out.push_str(open);
        out.push('>');
        out.push_str(&errors);
        let _ = write!(out, "</{name}>");
    } else {
        // `…</DeleteResult>` (with or without a prefix): the errors go before the end tag.
        let end = document.rfind("</").ok_or(S3Error::InternalError)?;
        let tag = &document[end..];
        if !tag.ends_with("DeleteResult>") || tag[2..].contains('<') {
            return Err(S3Error::InternalError);
        }
        out.push_str(&document[..end]);
        out.push_str(&errors);
        out.push_str(tag);
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELETE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Quiet>true</Quiet>
  <Object><Key>a &amp; b</Key></Object>
  <Object><Key>c</Key><VersionId>v1</VersionId><ETag>"e"</ETag><Size>3</Size></Object>
  <Object><Key> d
</Key><VersionId/></Object>
</Delete>"#;

    #[test]
    fn a_delete_document_is_read_with_every_field() {
        let request = DeleteRequest::parse(DELETE.as_bytes()).unwrap();
        assert!(request.quiet);
        assert_eq!(request.objects.len(), 3);
        assert_eq!(request.objects[0].key, "a & b");
        assert_eq!(request.objects[1].version_id.as_deref(), Some("v1"));
        assert_eq!(
            request.objects[1].conditions,
            vec![("ETag", "\"e\"".to_owned()), ("Size", "3".to_owned())]
        );
        assert_eq!(request.objects[2].key, " d\n");
        assert_eq!(request.objects[2].version_id, None);
        let loud = DeleteRequest::parse(b"<Delete><Object><Key>k</Key></Object></Delete>");
        assert!(!loud.unwrap().quiet);
    }

    #[test]
    fn the_forwarded_document_keeps_only_the_allowed_objects_exactly() {
        let request = DeleteRequest::parse(DELETE.as_bytes()).unwrap();
        let forwarded = request.to_xml(|index| index != 0);
        assert_eq!(
            forwarded,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>\
             <Object><Key>c</Key><VersionId>v1</VersionId><ETag>&quot;e&quot;</ETag><Size>3</Size></Object>\
             <Object><Key> d&#10;</Key></Object></Delete>"
        );
        // What the backend reads back is what was decided, key for key.
        let again = DeleteRequest::parse(forwarded.as_bytes()).unwrap();
        assert_eq!(again.objects, request.objects[1..]);
        assert!(again.quiet);
        let all = DeleteRequest::parse(request.to_xml(|_| true).as_bytes()).unwrap();
        assert_eq!(all, request);
    }

    #[test]
    fn keys_xml_cannot_carry_back_are_refused() {
        for key in ["a&#1;b", "a&#x1F;", "&#x1B;[0m"] {
            let body = format!("<Delete><Object><Key>{key}</Key></Object></Delete>");
            assert_eq!(
                DeleteRequest::parse(body.as_bytes()),
                Err(S3Error::MalformedXml),
                "{key}"
            );
        }
        let tab = DeleteRequest::parse(b"<Delete><Object><Key>a&#9;b</Key></Object></Delete>");
        assert_eq!(tab.unwrap().objects[0].key, "a\tb");
    }

    #[test]
    fn refused_objects_are_access_denied_errors() {
        let request = DeleteRequest::parse(DELETE.as_bytes()).unwrap();
        assert_eq!(
            refused_result(&request.objects[..2]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Error><Key>a &amp; b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
             <Error><Key>c</Key><VersionId>v1</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
             </DeleteResult>"
        );
    }

    #[test]
    fn refused_objects_are_merged_into_the_backends_result() {
        let request = DeleteRequest::parse(DELETE.as_bytes()).unwrap();
        let refused = &request.objects[..1];
        let error = "<Error><Key>a &amp; b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let cases = [
            (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Deleted><Key>c</Key></Deleted></DeleteResult>\n",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Deleted><Key>c</Key></Deleted>{error}</DeleteResult>"
                ),
            ),
            (
                "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>",
                format!(
                    "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{error}</DeleteResult>"
                ),
            ),
            (
                "<DeleteResult/>",
                format!("<DeleteResult>{error}</DeleteResult>"),
            ),
            (
                "<s3:DeleteResult xmlns:s3=\"urn:x\">\n  <s3:Error><s3:Key>z</s3:Key></s3:Error>\n</s3:DeleteResult>",
                format!(
                    "<s3:DeleteResult xmlns:s3=\"urn:x\">\n  <s3:Error><s3:Key>z</s3:Key></s3:Error>\n{error}</s3:DeleteResult>"
                ),
            ),
        ];
        for (backend, merged) in cases {
            let out = merge_refused(backend.as_bytes(), refused).unwrap();
            assert_eq!(String::from_utf8(out.clone()).unwrap(), merged);
            xml::parse(&out, 100).unwrap();
        }
        for backend in [
            &b""[..],
            b"stored",
            b"<Error><Code>InternalError</Code></Error>",
            b"<DeleteResult>",
            b"<DeleteResult></DeleteResult><!-- trailing -->",
        ] {
            assert_eq!(
                merge_refused(backend, refused),
                Err(S3Error::InternalError),
                "{}",
                String::from_utf8_lossy(backend)
            );
        }
    }
}
