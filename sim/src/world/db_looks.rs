//! Looks at the database's synced disk mid-run, for the checkers that
//! judge the projection at every moment (see [`DbLook`]).

use ledger::db::{DurableReader, Recovered};
use std::sync::Mutex;

use crate::check::{DbLook, DbMoment};
use crate::events::now;

use super::{World, WorldNode, lock};

/// The looks taken so far, when the run has a projection to judge.
pub(super) struct DbLooks {
    /// Only runs with ledger replicas keep a projection in the database;
    /// other runs skip the read.
    wanted: bool,
    /// Follows the database's disk from look to look.
    reader: Mutex<DurableReader>,
    taken: Mutex<Vec<DbLook>>,
}

impl DbLooks {
    pub(super) fn new(wanted: bool) -> DbLooks {
        DbLooks {
            wanted,
            reader: Mutex::new(DurableReader::default()),
            taken: Mutex::new(Vec::new()),
        }
    }
}

impl World {
    /// Reads `name`'s synced disk, if it is the database of a run that
    /// judges its projection.
    pub(super) fn look_at_db(&self, name: &str, node: &WorldNode, moment: DbMoment) {
        if self.db_looks.wanted && self.topology.db.iter().any(|db| db == name) {
            let db = lock(&self.db_looks.reader)
                .read(&node.disk)
                .committed_copy();
            self.keep_db_look(moment, db);
        }
    }

    /// Keeps what a look found (a wipe reads the disk for its own record,
    /// and hands the state here).
    pub(super) fn keep_db_look(&self, moment: DbMoment, db: Recovered) {
        if self.db_looks.wanted {
            lock(&self.db_looks.taken).push(DbLook {
                at: now(),
                moment,
                db,
            });
        }
    }

    /// The reader that followed the database's disk: the judge's last read
    /// of it goes on from the last look.
    pub(crate) fn take_db_reader(&self) -> DurableReader {
        std::mem::take(&mut lock(&self.db_looks.reader))
    }

    /// The looks taken, in order; the run hands them to the judge.
    pub(crate) fn take_db_looks(&self) -> Vec<DbLook> {
        std::mem::take(&mut lock(&self.db_looks.taken))
    }
}
