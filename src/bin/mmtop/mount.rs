//! Which mount to watch: `-m DIR`, or else the only mmfs mount in /proc/self/mounts
//! (the rule every tool in tools/ follows, SPEC §8a).

use std::path::PathBuf;

/// The mount points of mmfs in a /proc/self/mounts text: source `mmfs`, type `fuse`
/// (mounted with mount(2)) or `fuse.mmfs` (through fusermount3).
pub fn mmfs_mounts(mounts: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(' ');
            let (source, point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
            let fuse = fs_type == "fuse" || fs_type == "fuse.mmfs";
            (source == "mmfs" && fuse).then(|| PathBuf::from(unescape(point)))
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash in mount points as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount to watch: the one given, else the only mmfs mount in `mounts`.
pub fn choose(given: Option<PathBuf>, mounts: &str) -> Result<PathBuf, String> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    let found = mmfs_mounts(mounts);
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no mmfs mount in /proc/self/mounts; name one with -m DIR".into()),
        many => Err(format!(
            "{} mmfs mounts ({}); name one with -m DIR",
            many.len(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "proc /proc proc rw 0 0\n\
        mmfs /tmp/mm fuse rw,nosuid,nodev 0 0\n\
        sshfs /mnt/x fuse.sshfs rw 0 0\n";

    #[test]
    fn the_only_mmfs_mount_is_found() {
        assert_eq!(choose(None, MOUNTS), Ok(PathBuf::from("/tmp/mm")));
        let given = Some(PathBuf::from("/elsewhere"));
        assert_eq!(choose(given, MOUNTS), Ok(PathBuf::from("/elsewhere")));
    }

    #[test]
    fn none_or_several_ask_for_m() {
        assert!(
            choose(None, "proc /proc proc rw 0 0\n")
                .unwrap_err()
                .contains("-m DIR")
        );
        let two = format!("{MOUNTS}mmfs /tmp/my\\040mm fuse.mmfs rw 0 0\n");
        let err = choose(None, &two).unwrap_err();
        assert!(err.starts_with("2 mmfs mounts"), "{err}");
        assert!(err.contains("/tmp/my mm"), "{err}");
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(unescape("/a\\040b\\134c\\0"), "/a b\\c\\0");
    }
}
