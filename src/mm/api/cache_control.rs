//! `cache/control`: the hints, flushes and purges a user asks for by a file's
//! name in the volume (FILE_FLAG_SEQUENTIAL_SCAN / RANDOM_ACCESS on its next
//! opens, CcFlushCache, CcPurgeCacheSection).

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::cache::CacheManager;
use crate::mm::cache::read_ahead::Hint;
use crate::mm::segment::ControlAreaId;

/// A volume path as the views show it: no leading `/` or `./`.
fn normal(path: &str) -> &str {
    let mut p = path;
    loop {
        let q = p.trim_start_matches('/');
        let q = q.strip_prefix("./").unwrap_or(q);
        if q == p {
            return p;
        }
        p = q;
    }
}

impl Mm {
    /// `hint PATH sequential|random|normal`: the file's read-ahead from now
    /// on, and for its next opens.
    pub fn cache_hint_path(&self, path: &str, hint: Hint) -> MmResult<()> {
        let path = normal(path);
        let mut cc = self.cache_lock();
        for map in cc.maps.values_mut().filter(|m| m.shown == path) {
            map.hint = hint;
        }
        if hint == Hint::Normal {
            cc.hints.remove(path);
        } else {
            cc.hints.insert(path.to_string(), hint);
        }
        Ok(())
    }

    /// `flush [PATH]`: writes the dirty pages of one cached file, or of all,
    /// and syncs them. Returns the pages written.
    pub fn cache_flush_path(&self, path: Option<&str>) -> MmResult<u64> {
        let mut cc = self.cache_lock();
        let files = match path {
            Some(p) => vec![cached_named(&cc, normal(p))?],
            None => cc.maps.keys().copied().collect(),
        };
        let before = self.mapped_pages_written();
        for ca in files {
            self.write_all_dirty(&mut cc, ca)?;
            let map = cc.maps.get(&ca).expect("listed above");
            map.file
                .sync_data()
                .map_err(|e| mm_err!(LOST_WRITEBEHIND_DATA, "syncing {}: {e}", map.shown))?;
        }
        Ok(self.mapped_pages_written() - before)
    }

    /// `purge PATH`: writes the file's dirty pages, then drops every cached
    /// page of it (CcPurgeCacheSection). Refused with STATUS_USER_MAPPED_FILE
    /// while a process maps the file. Returns the pages freed.
    pub fn cache_purge_path(&self, path: &str) -> MmResult<u64> {
        let path = normal(path);
        let mut cc = self.cache_lock();
        let ca = cached_named(&cc, path)?;
        let (users, before) = {
            let st = self.machine.pfn_lock();
            let a = st.segments.control_area(ca);
            (
                a.map_or(0, |a| a.user_references),
                a.map_or(0, |a| a.pfn_references),
            )
        };
        if users > 0 {
            return Err(mm_err!(
                USER_MAPPED_FILE,
                "{path} is mapped by {users} process view(s); its pages cannot be purged"
            ));
        }
        self.write_all_dirty(&mut cc, ca)?;
        if !self.purge_range(&mut cc, ca, 0, u64::MAX) {
            return Err(mm_err!(
                USER_MAPPED_FILE,
                "some pages of {path} are in use; try again"
            ));
        }
        let after = self
            .machine
            .pfn_lock()
            .segments
            .control_area(ca)
            .map_or(0, |a| a.pfn_references);
        Ok(before - after)
    }

    fn mapped_pages_written(&self) -> u64 {
        self.counter("pages_written_to_mapped_files")
    }
}

/// The control area of the cached file named `path`.
fn cached_named(cc: &CacheManager, path: &str) -> MmResult<ControlAreaId> {
    cc.maps
        .values()
        .find(|m| m.shown == path)
        .map(|m| m.ca)
        .ok_or_else(|| {
            mm_err!(
                OBJECT_NAME_NOT_FOUND,
                "{path} is not in the cache (cache/files lists what is)"
            )
        })
}
