//! Turns a streamed answer's lines into text fragments: one parser per protocol (server-sent
//! events, NDJSON), one place that ends the stream on the first error and refuses a stream that
//! produced no text.

use futures::stream::{BoxStream, StreamExt};
use ragops_lib::error::ProviderError;

/// What one line of a streamed answer means.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// A fragment of the answer.
    Text(String),
    /// A line without text (keep-alive, blank separator, metadata).
    Skip,
    /// The end of the answer.
    Done,
    /// The server reported an error, or the line is malformed.
    Fail(ProviderError),
}

/// Applies `parse` to each line; stops after [`Step::Done`] or the first error; a stream that
/// ends without any text yields a [`ProviderError::MalformedResponse`].
pub fn fragments(
    provider: &str,
    lines: BoxStream<'static, Result<String, ProviderError>>,
    parse: impl Fn(&str) -> Step + Send + Sync + 'static,
) -> BoxStream<'static, Result<String, ProviderError>> {
    let provider = provider.to_string();
    let parse = std::sync::Arc::new(parse);
    futures::stream::unfold((lines, false, false), move |(mut lines, mut produced, finished)| {
        let provider = provider.clone();
        let parse = parse.clone();
        async move {
            if finished {
                return None;
            }
            let step = loop {
                match lines.next().await {
                    None => break Step::Done,
                    Some(Err(e)) => break Step::Fail(e),
                    Some(Ok(line)) => match parse(&line) {
                        Step::Skip => continue,
                        Step::Text(t) if t.is_empty() => continue,
                        other => break other,
                    },
                }
            };
            match step {
                Step::Text(t) => {
                    produced = true;
                    Some((Ok(t), (lines, produced, false)))
                }
                Step::Done if produced => None,
                Step::Done => {
                    let err = ProviderError::MalformedResponse {
                        provider,
                        message: "the stream ended without any text".into(),
                    };
                    Some((Err(err), (lines, produced, true)))
                }
                Step::Fail(e) => Some((Err(e), (lines, produced, true))),
                Step::Skip => None,
            }
        }
    })
    .boxed()
}
