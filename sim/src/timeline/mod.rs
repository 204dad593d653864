//! The picture of a run: a [`Timeline`] recorded from its trace events,
//! drawn as one self-contained HTML file, or told as the life of one
//! transfer in plain text (`sim explain`).

mod explain;
mod html;
pub mod model;
pub(crate) mod record;

pub use explain::{Explained, explain};
pub use html::render;
pub use model::Timeline;
