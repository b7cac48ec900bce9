//! The small XML request bodies authorization reads (`DeleteObjects`, `PutObjectTagging`),
//! parsed strictly and within bounds into a tree of elements.
//!
//! Only what S3's documents use is accepted: an optional XML declaration, comments, elements
//! (namespaces ignored, attributes ignored), text with the five predefined entities, character
//! references and CDATA. A document type declaration, a processing instruction, an unknown
//! entity, text beside child elements, more than `max_elements` elements or nesting deeper
//! than [`MAX_DEPTH`] is `MalformedXML`: nothing in the body can make the parser expand,
//! fetch or allocate beyond the body's own size.

use quick_xml::events::Event;

use crate::error::S3Error;

/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 8;

/// An element: its local name, its text (for a leaf), its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    /// The children named `name`.
    pub(crate) fn all<'e>(&'e self, name: &'e str) -> impl Iterator<Item = &'e Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the one child named `name`: `None` when absent, `MalformedXML` when
    /// repeated or not a leaf.
    pub(crate) fn leaf<'e>(&'e self, name: &'e str) -> Result<Option<&'e str>, S3Error> {
        let mut found = self.all(name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some(e), None) if e.children.is_empty() => Ok(Some(&e.text)),
            _ => Err(S3Error::MalformedXml),
        }
    }

    /// `MalformedXML` unless every child's name is in `names`.
    pub(crate) fn only(&self, names: &[&str]) -> Result<(), S3Error> {
        if self
            .children
            .iter()
            .all(|c| names.contains(&c.name.as_str()))
        {
            Ok(())
        } else {
            Err(S3Error::MalformedXml)
        }
    }
}

/// Parses `body` into its root element.
pub(crate) fn parse(body: &[u8], max_elements: usize) -> Result<Element, S3Error> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::MalformedXml)?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| S3Error::MalformedXml)?;
        match event {
            Event::Decl(_) if elements == 0 => {}
            Event::Comment(_) => {}
            Event::Start(start) => {
                let element = open(&start, &stack, &root, &mut elements, max_elements)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = open(&start, &stack, &root, &mut elements, max_elements)?;
                close(element, &mut stack, &mut root)?;
            }
            Event::Text(text) => push_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => push_text(&mut stack, &data.into_inner())?,
            Event::GeneralRef(reference) => {
                let c = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*reference {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err(S3Error::MalformedXml),
                    },
                    Err(_) => return Err(S3Error::MalformedXml),
                };
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or(S3Error::MalformedXml)?;
                if !element.children.is_empty() {
                    element.text.clear();
                }
                close(element, &mut stack, &mut root)?;
            }
            Event::Eof => break,
            _ => return Err(S3Error::MalformedXml),
        }
    }
    match (root, stack.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(S3Error::MalformedXml),
    }
}

/// A new element, within the bounds: one root, `max_elements` in all, [`MAX_DEPTH`] deep.
fn open(
    start: &quick_xml::events::BytesStart<'_>,
    stack: &[Element],
    root: &Option<Element>,
    elements: &mut usize,
    max_elements: usize,
) -> Result<Element, S3Error> {
    *elements += 1;
    if root.is_some() || *elements > max_elements || stack.len() == MAX_DEPTH {
        return Err(S3Error::MalformedXml);
    }
    if stack
        .last()
        .is_some_and(|parent| !parent.text.trim().is_empty())
    {
        return Err(S3Error::MalformedXml);
    }
    Ok(Element {
        name: start.local_name().as_ref().to_owned(),
        text: String::new(),
        children: Vec::new(),
    })
}

/// Adds text to the open element; text beside child elements or outside the root (other
/// than whitespace) is refused.
fn push_text(stack: &mut [Element], text: &str) -> Result<(), S3Error> {
    match stack.last_mut() {
        Some(element) if element.children.is_empty() || text.trim().is_empty() => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        _ => Err(S3Error::MalformedXml),
    }
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(
    element: Element,
    stack: &mut [Element],
    root: &mut Option<Element>,
) -> Result<(), S3Error> {
    match stack.last_mut() {
        Some(parent) => {
            if !parent.text.trim().is_empty() {
                return Err(S3Error::MalformedXml);
            }
            parent.children.push(element);
        }
        None => *root = Some(element),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str, text: &str) -> Element {
        Element {
            name: name.to_owned(),
            text: text.to_owned(),
            children: Vec::new(),
        }
    }

    #[test]
    fn documents_parse_into_trees() {
        let root = parse(
            b"<?xml version=\"1.0\"?>\n<!-- c --><a xmlns=\"urn:x\" attr=\"1\">\n  <b>x &lt;&#65;&#x42;<![CDATA[<y>]]></b>\n  <c/><s:d xmlns:s=\"urn:s\"> </s:d>\n</a>",
            10,
        )
        .unwrap();
        assert_eq!(
            root,
            Element {
                name: "a".into(),
                text: String::new(),
                children: vec![leaf("b", "x <AB<y>"), leaf("c", ""), leaf("d", " ")],
            }
        );
        assert_eq!(root.leaf("b").unwrap(), Some("x <AB<y>"));
        assert_eq!(root.leaf("z").unwrap(), None);
        assert!(root.only(&["b", "c", "d"]).is_ok());
        assert!(root.only(&["b", "c"]).is_err());
        let repeated = parse(b"<a><b/><b/></a>", 10).unwrap();
        assert!(repeated.leaf("b").is_err());
        let nested = parse(b"<a><b><c/></b></a>", 10).unwrap();
        assert!(nested.leaf("b").is_err(), "not a leaf");
    }

    #[test]
    fn everything_else_is_malformed() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        for body in [
            &b""[..],
            b"   ",
            b"text",
            b"<a>",
            b"</a>",
            b"<a></b>",
            b"<a/><b/>",
            b"<a>x<b/></a>",
            b"<a><b/>x</a>",
            b"<a>&ent;</a>",
            b"<a>&#0;</a>",
            b"<!DOCTYPE a><a/>",
            b"<?pi x?><a/>",
            b"<a/><?xml version=\"1.0\"?>",
            b"<a>\xff</a>",
            b"<a/>trailing",
            deep.as_bytes(),
        ] {
            assert_eq!(
                parse(body, 10),
                Err(S3Error::MalformedXml),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse(b"<a><b/><b/></a>", 3).is_ok());
        assert_eq!(parse(b"<a><b/><b/><b/></a>", 3), Err(S3Error::MalformedXml));
        let just_deep_enough = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(just_deep_enough.as_bytes(), 10).is_ok());
    }
}
