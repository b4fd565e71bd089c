//! A pre-flight check of a library file before `dlopen`: the dynamic linker maps segments
//! without checking the file is long enough, so a truncated library kills the process with
//! SIGBUS instead of failing. This reads the ELF header and program headers and refuses files
//! that are not ELF, are for another architecture, or end before their segments do.

use std::io::Read;
use std::path::Path;

const PT_LOAD: u32 = 1;
/// Reading more than this much header is a sign of a corrupt file.
const MAX_HEADERS: u64 = 1 << 20;

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "x86",
        62 => "x86_64",
        40 => "arm",
        183 => "aarch64",
        243 => "riscv",
        21 => "powerpc64",
        22 => "s390x",
        _ => "another architecture",
    }
}

/// The ELF machine of this build.
fn native_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" => Some(62),
        "aarch64" => Some(183),
        "x86" => Some(3),
        "arm" => Some(40),
        "riscv64" => Some(243),
        "powerpc64" => Some(21),
        "s390x" => Some(22),
        _ => None,
    }
}

/// `Ok(())` when `path` looks like a complete shared library for this machine.
pub fn check(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file.metadata().map_err(|e| format!("cannot stat: {e}"))?.len();
    if len == 0 {
        return Err("the file is empty".into());
    }
    let mut head = Vec::new();
    file.by_ref()
        .take(MAX_HEADERS)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    if head.len() < 64 || &head[..4] != b"\x7fELF" {
        return Err("not a shared library (no ELF header)".into());
    }
    if head[4] != 2 || head[5] != 1 {
        return Err("not a 64-bit little-endian ELF library".into());
    }
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    };
    let truncated = || format!("the file is truncated ({len} bytes)");
    let machine = u16_at(18).ok_or_else(truncated)?;
    if let Some(native) = native_machine() {
        if machine != native {
            return Err(format!(
                "built for {} ({machine}); this machine is {}",
                machine_name(machine),
                std::env::consts::ARCH
            ));
        }
    }
    let phoff = u64_at(32).ok_or_else(truncated)?;
    let shoff = u64_at(40).ok_or_else(truncated)?;
    let phentsize = u64::from(u16_at(54).ok_or_else(truncated)?);
    let phnum = u64::from(u16_at(56).ok_or_else(truncated)?);
    let shentsize = u64::from(u16_at(58).ok_or_else(truncated)?);
    let shnum = u64::from(u16_at(60).ok_or_else(truncated)?);
    if phoff.saturating_add(phentsize.saturating_mul(phnum)) > len
        || shoff.saturating_add(shentsize.saturating_mul(shnum)) > len
    {
        return Err(truncated());
    }
    for i in 0..phnum {
        let base = usize::try_from(phoff + i * phentsize).map_err(|_| truncated())?;
        let p_type = u32_at(base).ok_or_else(truncated)?;
        let p_offset = u64_at(base + 8).ok_or_else(truncated)?;
        let p_filesz = u64_at(base + 32).ok_or_else(truncated)?;
        if p_type == PT_LOAD && p_offset.saturating_add(p_filesz) > len {
            return Err(truncated());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_garbage_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.so");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(check(&p), Err("the file is empty".into()));
        std::fs::write(
            &p,
            b"hello, this is text and not a library at all, long enough to read the header",
        )
        .unwrap();
        assert!(check(&p).unwrap_err().contains("no ELF header"));
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(check(&std::env::current_exe().unwrap()), Ok(()));
        std::fs::write(&p, &exe[..4096]).unwrap();
        assert!(check(&p).unwrap_err().contains("truncated"));
        let mut other = exe[..64].to_vec();
        other[18] = 183;
        other[19] = 0;
        std::fs::write(&p, &other).unwrap();
        let e = check(&p).unwrap_err();
        assert!(
            e.contains("built for aarch64") || e.contains("this machine is"),
            "{e}"
        );
    }
}
