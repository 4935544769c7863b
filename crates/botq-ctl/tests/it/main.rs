//! `botqctl` against a real `redis-server`, one test binary: the real binary
//! for exit codes and output, the library for the audit reader.

mod audit;
mod cli;
