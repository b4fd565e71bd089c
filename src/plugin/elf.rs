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

/// Why a file is not a complete shared library for this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("cannot open: {0}")]
    Open(String),
    #[error("cannot stat: {0}")]
    Stat(String),
    #[error("cannot read: {0}")]
    Read(String),
    #[error("the file is empty")]
    Empty,
    #[error("not a shared library (no ELF header)")]
    NotElf,
    #[error("not a 64-bit little-endian ELF library")]
    NotElf64Le,
    #[error("built for {name} ({machine}); this machine is {}", std::env::consts::ARCH)]
    OtherMachine { machine: u16, name: String },
    #[error("the file is truncated ({0} bytes)")]
    Truncated(u64),
}

/// `Ok(())` when `path` looks like a complete shared library for this machine.
pub fn check(path: &Path) -> Result<(), ElfError> {
    let mut file = std::fs::File::open(path).map_err(|e| ElfError::Open(e.to_string()))?;
    let len = file.metadata().map_err(|e| ElfError::Stat(e.to_string()))?.len();
    if len == 0 {
        return Err(ElfError::Empty);
    }
    let mut head = Vec::new();
    file.by_ref()
        .take(MAX_HEADERS)
        .read_to_end(&mut head)
        .map_err(|e| ElfError::Read(e.to_string()))?;
    if head.len() < 64 || &head[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if head[4] != 2 || head[5] != 1 {
        return Err(ElfError::NotElf64Le);
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
    let truncated = || ElfError::Truncated(len);
    let machine = u16_at(18).ok_or_else(truncated)?;
    if let Some(native) = native_machine() {
        if machine != native {
            return Err(ElfError::OtherMachine {
                machine,
                name: machine_name(machine).to_string(),
            });
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
        assert_eq!(check(&p), Err(ElfError::Empty));
        std::fs::write(
            &p,
            b"hello, this is text and not a library at all, long enough to read the header",
        )
        .unwrap();
        assert_eq!(check(&p), Err(ElfError::NotElf));
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(check(&std::env::current_exe().unwrap()), Ok(()));
        std::fs::write(&p, &exe[..4096]).unwrap();
        assert!(matches!(check(&p), Err(ElfError::Truncated(_))));
        let mut other = exe[..64].to_vec();
        other[18] = 183;
        other[19] = 0;
        std::fs::write(&p, &other).unwrap();
        let e = check(&p).unwrap_err().to_string();
        assert!(
            e.contains("built for aarch64") || e.contains("this machine is"),
            "{e}"
        );
    }
}
