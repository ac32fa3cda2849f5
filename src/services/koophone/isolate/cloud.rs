//! The cloud as a [`StatusSource`]: the collector's own batch-status call (which keeps only the
//! phones asked, once each). Nothing imports this file; the impl is all it holds.

use futures::future::{BoxFuture, FutureExt};
use tokio::time::Instant;

use super::source::{StatusAnswer, StatusSource};
use crate::services::koophone::status::status_chunk;
use crate::transport::CloudClient;

impl StatusSource for CloudClient {
    fn status<'a>(&'a self, ids: &'a [String], deadline: Instant) -> BoxFuture<'a, StatusAnswer> {
        status_chunk(self, ids, deadline).boxed()
    }

    fn cloud(&self) -> &str {
        &self.cloud
    }
}
