//! One file per subcommand; each computes a `Serialize` result that the
//! dispatcher renders.

pub mod calendar;
pub mod completions;
pub mod doctor;
pub mod history;
pub mod init;
pub mod install;
pub mod list;
pub mod logs;
pub mod pause;
pub mod prune;
pub mod reindex;
pub mod relocate;
pub mod repair;
pub mod report;
pub mod resume;
pub mod robot_docs;
pub mod run;
pub mod status;
pub mod sync;
pub mod trigger;
pub mod uninstall;
