//! `syncfleet top`, kept in three parts so that each can be tested alone:
//!
//! - [`data`]: what the dashboard shows, read from the registry (one
//!   statement for the table, one batched statement for the sparklines of
//!   the rows on screen) and the service's files (the log tail);
//! - [`app`]: the state (rows, filter, selection, view, confirmation) and
//!   what a key does to it: pure, no terminal;
//! - [`render`]: the state drawn into a ratatui buffer, and a buffer as
//!   plain or coloured text (`top --once`, snapshots).
//!
//! `commands/top.rs` owns the terminal: the event loop, the refresh, and
//! running the confirmed actions.

pub mod app;
pub mod data;
pub mod render;

#[cfg(test)]
mod tests;
