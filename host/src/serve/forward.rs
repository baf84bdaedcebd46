//! The downstream: where annotated batches go with `forward`, and the
//! outputs kept for a sender's retry.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Bytes;

use crate::error::Error;

/// The HTTP endpoint that takes annotated batches: each is one `POST` of
/// NDJSON, accepted when it answers `2xx` (Vector's `http_server` source,
/// Fluent Bit's `http` input, another sigil).
#[derive(Clone, Debug)]
pub struct Downstream {
    url: String,
    content_type: String,
    client: reqwest::Client,
}

impl Downstream {
    /// A downstream at `url` (`http://HOST:PORT/PATH`), with `timeout` per
    /// batch, sent as `content_type` (`application/x-ndjson`; Fluent Bit's
    /// `http` input takes the same lines only as `application/json`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL is not `http://` (the sidecar speaks
    /// plain HTTP to its neighbour; put TLS in the pipeline's own hop).
    pub fn new(url: &str, timeout: Duration, content_type: &str) -> Result<Downstream, Error> {
        if !url.starts_with("http://") {
            return Err(Error::Config(format!(
                "--forward takes an http:// URL (the downstream beside sigil), not `{url}`"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot make the HTTP client: {e}")))?;
        Ok(Downstream {
            url: url.to_string(),
            content_type: content_type.to_string(),
            client,
        })
    }

    /// Posts one batch; `Err` says why it was not accepted. `Bytes`: a
    /// retry sends the same buffer again, not a copy.
    pub async fn send(&self, ndjson: Bytes) -> Result<(), String> {
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", &self.content_type)
            .body(ndjson)
            .send()
            .await
            .map_err(|e| format!("downstream {}: {e}", self.url))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("downstream {} answered {status}", self.url))
        }
    }
}

/// Outputs of batches evaluated but not delivered, by the SHA-256 of their
/// decoded body, oldest first; at most `budget` bytes (the oldest go
/// first: their retry is evaluated again, which only costs the
/// correlation exactness the module docs promise, and is counted).
pub(crate) struct Undelivered {
    budget: usize,
    bytes: usize,
    kept: VecDeque<([u8; 32], Bytes)>,
}

impl Undelivered {
    pub fn new(budget: usize) -> Undelivered {
        Undelivered {
            budget,
            bytes: 0,
            kept: VecDeque::new(),
        }
    }

    /// The kept output of the batch with this digest, taken out.
    pub fn take(&mut self, digest: &[u8; 32]) -> Option<Bytes> {
        let at = self.kept.iter().position(|(d, _)| d == digest)?;
        let (_, output) = self.kept.remove(at)?;
        self.bytes -= output.len();
        Some(output)
    }

    /// Keeps `output` for a retry of the batch with this digest.
    pub fn keep(&mut self, digest: [u8; 32], output: Bytes) {
        if output.len() > self.budget {
            return;
        }
        while self.bytes + output.len() > self.budget {
            match self.kept.pop_front() {
                Some((_, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
        self.bytes += output.len();
        self.kept.push_back((digest, output));
    }
}
