//! An HTML form to hand to the buyer's browser.

/// A form to render: POST to `action` with `fields` as hidden inputs, in this order. Values are
/// raw text: HTML-escape them when rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlForm {
    /// The form's `action` URL.
    pub action: String,
    /// Hidden inputs, name and value.
    pub fields: Vec<(String, String)>,
}
