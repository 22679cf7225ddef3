//! A report [`Letter`] as a MIME message (RFC 2046, RFC 2387):
//!
//! ```text
//! multipart/alternative
//! ├── text/plain                       the plain-text report
//! └── multipart/related                the HTML and the pictures it shows
//!     ├── text/html                    references each chart as cid:<content-id>
//!     └── image/png  (inline, Content-ID: <…>)   one per chart
//! ```
//!
//! Clients that show HTML pick the last alternative and resolve `cid:` against its related
//! parts; the others show the text. The message id is the sent-log's, so every attempt of one
//! send carries the same `Message-ID`.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use pacer_api::report::Letter;

/// Builds the message of `letter` from `from` to `to`.
///
/// # Errors
/// An address lettre refuses (it was validated when configured), in words.
pub fn build(letter: &Letter, from: &Mailbox, to: &[Mailbox], message_id: &str) -> Result<Message, String> {
    let png = ContentType::parse("image/png").map_err(|e| e.to_string())?;
    let mut related = MultiPart::related().singlepart(SinglePart::html(letter.html.clone()));
    for image in &letter.images {
        related = related.singlepart(Attachment::new_inline_with_name(image.cid.clone(), image.filename.clone()).body(image.png.clone(), png.clone()));
    }
    let body = MultiPart::alternative().singlepart(SinglePart::plain(letter.text.clone())).multipart(related);
    let mut builder = Message::builder().from(from.clone()).subject(letter.subject.clone()).message_id(Some(message_id.to_owned())).date_now();
    for recipient in to {
        builder = builder.to(recipient.clone());
    }
    builder.multipart(body).map_err(|e| format!("cannot build the report message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_api::report::Image;

    #[test]
    fn the_html_and_its_pictures_are_related_inside_the_alternative() {
        let letter = Letter {
            subject: "pacer weekly: commerce 2026-W47".into(),
            html: r#"<p>hi</p><img src="cid:lead-time@report.pacer">"#.into(),
            text: "hi".into(),
            images: vec![Image { cid: "lead-time@report.pacer".into(), filename: "lead-time.png".into(), png: b"\x89PNG\r\n\x1a\n".to_vec() }],
        };
        let from: Mailbox = "pacer <pacer@example.com>".parse().expect("address");
        let to: Mailbox = "ana@example.com".parse().expect("address");
        let message = build(&letter, &from, &[to], "<report.1@example.com>").expect("built");
        let text = String::from_utf8(message.formatted()).expect("ascii");
        let alternative = text.find("multipart/alternative").expect("alternative");
        let related = text.find("multipart/related").expect("related");
        let html = text.find("text/html").expect("html");
        let image = text.find("Content-ID: <lead-time@report.pacer>").expect("content id");
        assert!(alternative < related && related < html && html < image, "{text}");
        assert!(text.contains("Message-ID: <report.1@example.com>"), "{text}");
    }
}
