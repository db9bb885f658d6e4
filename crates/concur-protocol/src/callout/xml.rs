//! A small, safe XML document reader and the escaping the callout responses use
//! (docs/protocol.md §12.1).
//!
//! Concur's callout bodies are a root element with a few levels of children and text. The
//! reader turns such a body into an [`Element`] tree and refuses what a callout never
//! needs and an attacker would use: a `DOCTYPE` (so no DTD, no entity declaration, no
//! external entity, no expansion), entity references other than the five predefined ones
//! and character references, bytes that are not UTF-8, more than [`MAX_DEPTH`] levels or
//! [`MAX_ELEMENTS`] elements. Names are compared by local name, so a namespace prefix or
//! default namespace changes nothing; attributes are ignored.

use std::borrow::Cow;

use quick_xml::events::Event;

/// Deepest nesting accepted (Concur's bodies use three levels).
pub const MAX_DEPTH: usize = 16;
/// Most elements accepted in one document (Concur's bodies use about forty).
pub const MAX_ELEMENTS: usize = 4096;

/// One element: its local name, its text (all text and CDATA directly inside it,
/// concatenated, entities resolved, not trimmed) and its child elements in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name, compared ASCII-case-insensitively.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The trimmed text of the first child with this name; `None` when the child is
    /// missing or its text is blank (Concur sends `<x />`, `<x></x>` and omits elements
    /// alike).
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Why a body is not a document the callouts accept. The messages are short and never
/// quote the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("a DOCTYPE is not accepted")]
    Doctype,
    #[error("entity references other than &amp; &lt; &gt; &quot; &apos; are not accepted")]
    Entity,
    #[error("the document nests more than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the document has more elements than accepted")]
    TooManyElements,
    #[error("the document has no root element")]
    NoRoot,
    #[error("the document is not well-formed XML: {0}")]
    Malformed(String),
}

/// Reads one document: an optional declaration, comments and processing instructions, one
/// root element, nothing but whitespace, comments and processing instructions after it.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    parse_with_max_elements(body, MAX_ELEMENTS)
}

/// [`parse`] with another bound on the number of elements, for larger documents from a
/// trusted peer (a report's full details list every entry and its fields).
pub fn parse_with_max_elements(body: &[u8], max_elements: usize) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(XmlError::Malformed(
                    "content after the root element".to_owned(),
                ));
            }
            Event::Start(e) => {
                elements += 1;
                if elements > max_elements {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(Element {
                    name: e.local_name().as_ref().to_owned(),
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                elements += 1;
                if elements > max_elements {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let element = Element {
                    name: e.local_name().as_ref().to_owned(),
                    ..Element::default()
                };
                close(element, &mut stack, &mut root);
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unexpected end tag".to_owned()))?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                xml_chars(&content)?;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Malformed(
                            "text outside the root element".to_owned(),
                        ));
                    }
                }
            }
            Event::CData(t) => {
                let content = t.into_inner();
                xml_chars(&content)?;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&content),
                    None => {
                        return Err(XmlError::Malformed(
                            "text outside the root element".to_owned(),
                        ));
                    }
                }
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => return Err(XmlError::Entity),
                    },
                    Err(_) => return Err(XmlError::Entity),
                };
                xml_chars(&resolved)?;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&resolved),
                    None => return Err(XmlError::Entity),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed(
            "the root element is not closed".to_owned(),
        ));
    }
    root.ok_or(XmlError::NoRoot)
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Parser messages can be long; keep the first line, at most 120 characters.
fn short(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect()
}

/// A character XML 1.0 documents may contain: tab, line feed, carriage return, and
/// everything from the space on except U+FFFE and U+FFFF (a `str` holds no surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
}

/// Text, CDATA and character references may carry only XML characters: a raw control
/// character (or `&#8;`) makes the document not well-formed.
fn xml_chars(text: &str) -> Result<(), XmlError> {
    if text.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(XmlError::Malformed(
            "a character XML 1.0 does not allow (a control character)".to_owned(),
        ))
    }
}

/// `text` escaped for an XML element's content: `&`, `<`, `>` escaped (and `"`, `'` so the
/// same text is safe in an attribute), characters XML 1.0 cannot carry (most control
/// characters, lone surrogates cannot occur in `str`, U+FFFE, U+FFFF) dropped.
pub fn escape(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_xml_char) {
        return quick_xml::escape::escape(text);
    }
    let kept: String = text.chars().filter(|c| is_xml_char(*c)).collect();
    Cow::Owned(quick_xml::escape::escape(&kept).into_owned())
}

/// Appends `<name>escaped text</name>`, or `<name/>` when the text is empty.
pub fn push_element(out: &mut String, name: &str, text: &str) {
    if text.is_empty() {
        out.push('<');
        out.push_str(name);
        out.push_str("/>");
    } else {
        out.push('<');
        out.push_str(name);
        out.push('>');
        out.push_str(&escape(text));
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_by_local_name() {
        let doc = parse(
            br#"<?xml version="1.0" ?>
            <n:fetch-list-request xmlns:n="urn:x"><n:query>Alph*</n:query><list-name />
            <code-by-level><level1>US</level1></code-by-level></n:fetch-list-request>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "fetch-list-request");
        assert_eq!(doc.child_text("query"), Some("Alph*"));
        assert_eq!(doc.child_text("list-name"), None);
        assert!(doc.child("list-name").is_some());
        assert_eq!(
            doc.child("code-by-level")
                .and_then(|c| c.child_text("LEVEL1")),
            Some("US")
        );
    }

    #[test]
    fn resolves_predefined_entities_char_refs_and_cdata() {
        let doc = parse(b"<r><a>B &amp; C &#x263A; &lt;x&gt;<![CDATA[<raw>]]></a></r>").unwrap();
        assert_eq!(doc.child_text("a"), Some("B & C \u{263a} <x><raw>"));
    }

    #[test]
    fn refuses_doctype_and_unknown_entities() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><r>&b;</r>"#;
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
        let external = br#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(parse(external), Err(XmlError::Doctype));
        assert_eq!(parse(b"<r>&x;</r>"), Err(XmlError::Entity));
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_document() {
        for (body, why) in [
            (&b""[..], "empty"),
            (b"   ", "blank"),
            (b"<r>", "unclosed"),
            (b"<r></s>", "mismatched"),
            (b"<r/><r/>", "two roots"),
            (b"text", "no element"),
            (b"<r/>trailing", "trailing text"),
            (b"<r>\xff</r>", "not utf-8"),
            (b"<r>a\x08b</r>", "a raw control character"),
            (b"<r>&#8;</r>", "a control character by reference"),
            (b"<r><![CDATA[\x01]]></r>", "a control character in CDATA"),
        ] {
            assert!(parse(body).is_err(), "{why}");
        }
    }

    #[test]
    fn bounds_depth_and_element_count() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(wide.as_bytes()), Err(XmlError::TooManyElements));
        let ok = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS - 1));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn escapes_markup_and_drops_characters_xml_cannot_carry() {
        assert_eq!(escape("a & <b>"), "a &amp; &lt;b&gt;");
        assert_eq!(escape("x\u{1}y\u{ffff}"), "xy");
        let mut out = String::new();
        push_element(&mut out, "Suffix", "");
        push_element(&mut out, "text", "R&D");
        assert_eq!(out, "<Suffix/><text>R&amp;D</text>");
        assert_eq!(
            parse(format!("<r>{out}</r>").as_bytes())
                .unwrap()
                .child_text("text"),
            Some("R&D")
        );
    }
}
