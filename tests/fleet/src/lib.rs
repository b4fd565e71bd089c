//! A loopback fleet of real OpenSSH `sshd` processes, one per host, each on its own 127.x
//! address and port with its own ed25519 host key, all accepting one user key. Used by the
//! end-to-end tests (a fleet per test, in a temp dir, killed on drop) and, through the
//! `rolecall-fleet` binary, by the demo and the benchmark (started and stopped by scripts).
//!
//! Only loopback addresses are ever used: [`Fleet::start_at`] refuses anything else.

use std::fmt::Write as _;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// A fresh loopback address `127.<block>.x.y` that no other caller in this process got.
pub fn fresh_address(block: u8) -> String {
    let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    format!("127.{block}.{}.{}", n / 250, n % 250 + 1)
}

/// A port nothing listens on right now at `address`.
pub fn free_port(address: &str) -> u16 {
    TcpListener::bind((address, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "rolecall-fleet", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (install openssh-client)");
    assert!(st.success(), "ssh-keygen failed");
}

/// One host of the fleet.
#[derive(Debug)]
pub struct SshHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub dir: PathBuf,
    /// sshd's `ForceCommand`: a script that sees the client's command in
    /// `$SSH_ORIGINAL_COMMAND` (canned answers for a role's commands).
    force_command: Option<PathBuf>,
    /// sshd's `MaxSessions` (channels open at once on one connection).
    max_sessions: u32,
    child: Option<Child>,
}

impl SshHost {
    /// `[addr]:port type key`, as in known_hosts.
    pub fn known_hosts_line(&self) -> String {
        let pubkey = std::fs::read_to_string(self.dir.join("host_key.pub")).expect("host key");
        let mut f = pubkey.split_whitespace();
        let (t, k) = (f.next().unwrap_or_default(), f.next().unwrap_or_default());
        format!("[{}]:{} {t} {k}", self.address, self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Wait until this host's sshd sends its banner; panic with its log if it died.
    fn wait_ready(&mut self) {
        let addr: SocketAddr = format!("{}:{}", self.address, self.port).parse().expect("addr");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default();
                panic!("sshd for {} on {addr} exited ({status}):\n{log}", self.name);
            }
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4];
                if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd for {} on {addr} did not come up", self.name);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
enum Root {
    Temp(tempfile::TempDir),
    Dir(PathBuf),
}

/// A running fleet; every sshd is killed on drop unless [`Fleet::detach`]ed.
#[derive(Debug)]
pub struct Fleet {
    root: Root,
    pub hosts: Vec<SshHost>,
    pub user_key: PathBuf,
    pub known_hosts: PathBuf,
}

impl Fleet {
    /// `n` hosts named h01.. on fresh 127.77.x.y addresses, in a temp dir.
    pub fn start(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let specs = (1..=n)
            .map(|i| {
                let address = fresh_address(77);
                let port = free_port(&address);
                (format!("h{i:02}"), address, port)
            })
            .collect();
        Self::launch(Root::Temp(dir), specs)
    }

    /// Hosts (name, address, port) in `dir`, which is created.
    pub fn start_at(dir: &Path, specs: Vec<(String, String, u16)>) -> Result<Self, String> {
        for (name, address, _) in &specs {
            let ip: IpAddr = address
                .parse()
                .map_err(|_| format!("{name}: `{address}` is not an IP address"))?;
            if !ip.is_loopback() {
                return Err(format!("{name}: {address} is not a loopback address; refusing"));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // sshd wants absolute paths in its configuration.
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self::launch(Root::Dir(dir), specs))
    }

    fn launch(root: Root, specs: Vec<(String, String, u16)>) -> Self {
        let path = match &root {
            Root::Temp(t) => t.path().to_path_buf(),
            Root::Dir(d) => d.clone(),
        };
        let user_key = path.join("id_ed25519");
        if !user_key.exists() {
            keygen(&user_key);
        }
        std::fs::copy(path.join("id_ed25519.pub"), path.join("authorized_keys")).expect("authorized_keys");
        if whoami() == "root" {
            // sshd's privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let mut fleet = Self {
            known_hosts: path.join("known_hosts"),
            root,
            hosts: Vec::new(),
            user_key,
        };
        for (name, address, port) in specs {
            let dir = path.join(&name);
            std::fs::create_dir_all(&dir).expect("host dir");
            let _ = std::fs::remove_file(dir.join("host_key"));
            let _ = std::fs::remove_file(dir.join("host_key.pub"));
            keygen(&dir.join("host_key"));
            fleet.hosts.push(SshHost {
                name,
                address,
                port,
                dir,
                force_command: None,
                max_sessions: 100,
                child: None,
            });
        }
        for i in 0..fleet.hosts.len() {
            fleet.spawn(i);
        }
        for h in &mut fleet.hosts {
            h.wait_ready();
        }
        fleet.write_known_hosts();
        fleet
    }

    pub fn dir(&self) -> &Path {
        match &self.root {
            Root::Temp(t) => t.path(),
            Root::Dir(d) => d,
        }
    }

    fn spawn(&mut self, i: usize) {
        let auth = self.dir().join("authorized_keys");
        let h = &mut self.hosts[i];
        let config = h.dir.join("sshd_config");
        // `SetEnv SHLVL=1`: bash then skips ~/.bashrc (it sources it only as a top-level shell
        // started by sshd), so a login user's startup files (pyenv, say) are not what the
        // tests and the benchmark measure, nor a source of delays.
        let text = format!(
            "ListenAddress {addr}:{port}\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {auth}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n\
             MaxStartups 1000\nMaxSessions {max_sessions}\nUseDNS no\nSetEnv SHLVL=1\n",
            max_sessions = h.max_sessions,
            addr = h.address,
            port = h.port,
            dir = h.dir.display(),
            auth = auth.display(),
        );
        let text = match &h.force_command {
            Some(script) => format!("{text}ForceCommand {}\n", script.display()),
            None => text,
        };
        std::fs::write(&config, text).expect("sshd_config");
        let log = std::fs::File::create(h.dir.join("sshd.log")).expect("log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd (install openssh-server)");
        h.child = Some(child);
    }

    pub fn write_known_hosts(&self) {
        let mut text = String::new();
        for h in &self.hosts {
            let _ = writeln!(text, "{}", h.known_hosts_line());
        }
        std::fs::write(&self.known_hosts, text).expect("known_hosts");
    }

    /// Give host `i` a new host key and restart it (a reinstalled machine, or an impostor).
    pub fn change_host_key(&mut self, i: usize) {
        self.hosts[i].stop();
        let key = self.hosts[i].dir.join("host_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        keygen(&key);
        self.spawn(i);
        self.hosts[i].wait_ready();
    }

    /// Make host `i` answer every command through `script` (a POSIX shell script that reads
    /// `$SSH_ORIGINAL_COMMAND`), and restart it.
    pub fn force_command(&mut self, i: usize, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.hosts[i].dir.join("answer.sh");
        std::fs::write(&path, script).expect("answer script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        self.hosts[i].stop();
        self.hosts[i].force_command = Some(path);
        self.spawn(i);
        self.hosts[i].wait_ready();
    }

    /// Stop host `i`'s sshd (a machine that went down); [`Fleet::restart`] brings it back.
    pub fn stop(&mut self, i: usize) {
        self.hosts[i].stop();
    }

    /// Start host `i`'s sshd again, as it was.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.hosts[i].wait_ready();
    }

    /// Give host `i` sshd's `MaxSessions n` (the fleet default is 100), and restart it.
    pub fn max_sessions(&mut self, i: usize, n: u32) {
        self.hosts[i].stop();
        self.hosts[i].max_sessions = n;
        self.spawn(i);
        self.hosts[i].wait_ready();
    }

    /// The `hosts:` section of a deployment for this fleet (for a test that writes its own
    /// roles).
    pub fn hosts_yaml(&self) -> String {
        let mut y = String::from("hosts:\n");
        for h in &self.hosts {
            let _ = writeln!(
                y,
                "  {}:\n    address: {}\n    port: {}",
                h.name, h.address, h.port
            );
        }
        y
    }

    /// A deployment for this fleet: its hosts, role `fleet` with all of them, then `extra`.
    pub fn yaml(&self, extra: &str) -> String {
        let mut y = self.hosts_yaml();
        y.push_str("roles:\n  fleet:\n");
        for h in &self.hosts {
            let _ = writeln!(y, "    - {}", h.name);
        }
        y.push_str(extra);
        y
    }

    /// rolecall's connection flags for this fleet: user key, known_hosts, current user.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-i".into(),
            self.user_key.display().to_string(),
            "--known-hosts".into(),
            self.known_hosts.display().to_string(),
            "--user".into(),
            whoami(),
        ]
    }

    /// Leave the sshd processes running after this value is gone; their pids go to `pids`
    /// in the fleet's directory, for [`stop_dir`].
    pub fn detach(mut self) -> std::io::Result<()> {
        let pids: Vec<String> = self
            .hosts
            .iter()
            .filter_map(|h| h.pid())
            .map(|p| p.to_string())
            .collect();
        std::fs::write(self.dir().join("pids"), pids.join("\n") + "\n")?;
        for h in &mut self.hosts {
            h.child = None;
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            h.stop();
        }
    }
}

/// Stop a detached fleet: kill every pid in `dir/pids`.
pub fn stop_dir(dir: &Path) -> std::io::Result<usize> {
    let text = match std::fs::read_to_string(dir.join("pids")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for pid in text.lines().filter(|l| !l.trim().is_empty()) {
        if Command::new("kill")
            .arg(pid.trim())
            .status()
            .is_ok_and(|s| s.success())
        {
            n += 1;
        }
    }
    std::fs::remove_file(dir.join("pids"))?;
    Ok(n)
}

pub fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| {
        let out = Command::new("id").arg("-un").output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

/// A TCP port on loopback that never completes a connection: its listener's accept queue is
/// full and never drained, so new connection attempts are dropped and hang until their own
/// timeout (a firewalled or black-holed host, without touching the firewall).
#[derive(Debug)]
pub struct BlackHole {
    _listener: socket2::Socket,
    _queued: Vec<std::net::TcpStream>,
    pub address: String,
    pub port: u16,
}

impl BlackHole {
    pub fn new(address: &str) -> Self {
        use socket2::{Domain, Socket, Type};
        let addr: std::net::SocketAddr = format!("{address}:0").parse().expect("loopback address");
        assert!(addr.ip().is_loopback(), "black holes only on loopback");
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        listener.bind(&addr.into()).expect("bind");
        listener.listen(0).expect("listen");
        let port = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .expect("port");
        // Fill the accept queue (backlog 0 holds one); later SYNs are dropped.
        let target: std::net::SocketAddr = format!("{address}:{port}").parse().expect("address");
        let mut queued = Vec::new();
        for _ in 0..2 {
            if let Ok(s) =
                std::net::TcpStream::connect_timeout(&target, std::time::Duration::from_millis(300))
            {
                queued.push(s);
            }
        }
        Self {
            _listener: listener,
            _queued: queued,
            address: address.to_string(),
            port,
        }
    }
}
