//! `rolecall completions SHELL` and `rolecall man`: what an installed tool offers its shell and
//! `man`, generated from the clap definitions so they never drift from the real flags.

use anyhow::Context;
use clap::{Args, CommandFactory, ValueEnum};
use rolecall::exit::Exit;
use rolecall::report::Printer;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The values after `--only`/`--skip` (plugin names), `--roles` (roles), `--limit`/`-l` and a
/// positional pattern (hosts, roles and clusters) come from the deployment and the plugin
/// directories of the command line being completed: the scripts ask `rolecall __complete`.
const BASH_VALUES: &str = r#"
# Values from the deployment and the plugins (`rolecall __complete`), comma lists included.
_rolecall_values() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" kind=""
    case "$prev" in
        --only|--skip) kind=plugins ;;
        --roles) kind=roles ;;
        --limit|-l) kind=hosts ;;
        hosts|run|debug) [ "$COMP_CWORD" -eq 2 ] && [ "${cur#-}" = "$cur" ] && kind=hosts ;;
    esac
    if [ -n "$kind" ]; then
        local words pre="" last="${cur##*,}"
        [ "$last" != "$cur" ] && pre="${cur%,*},"
        words=$("${COMP_WORDS[0]}" __complete "$kind" "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)
        local IFS=$'
'
        COMPREPLY=($(compgen -P "$pre" -W "$words" -- "$last"))
        return 0
    fi
    _rolecall "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _rolecall_values -o nosort -o bashdefault -o default rolecall
else
    complete -F _rolecall_values -o bashdefault -o default rolecall
fi
"#;

/// The same for fish: added completions, with no file names for these options.
const FISH_VALUES: &str = r#"
# Values from the deployment and the plugins (`rolecall __complete`).
complete -c rolecall -l only -l skip -x -a '(rolecall __complete plugins (commandline -opc)[2..-1] 2>/dev/null)'
complete -c rolecall -l roles -x -a '(rolecall __complete roles (commandline -opc)[2..-1] 2>/dev/null)'
complete -c rolecall -s l -l limit -x -a '(rolecall __complete hosts (commandline -opc)[2..-1] 2>/dev/null)'
complete -c rolecall -n '__fish_seen_subcommand_from hosts run debug' -f -a '(rolecall __complete hosts (commandline -opc)[2..-1] 2>/dev/null)'
"#;

/// Print the completion script for `shell` (`rolecall completions bash > /etc/bash_completion.d/rolecall`).
pub fn run(args: CompletionsArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let CompletionsArgs { shell } = args;
    let (generator, values) = match shell {
        Shell::Bash => (clap_complete::Shell::Bash, BASH_VALUES),
        // zsh: clap's script completes flags; the values come through bash's (see the README).
        Shell::Zsh => (clap_complete::Shell::Zsh, ""),
        Shell::Fish => (clap_complete::Shell::Fish, FISH_VALUES),
    };
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut super::Cli::command(), "rolecall", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push_str(values);
    printer.out(&text).context("writing to stdout")?;
    Ok(Exit::Ok)
}

/// What `rolecall __complete` lists.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// Plugin names (`--only`, `--skip`)
    Plugins,
    /// Role names (`--roles`)
    Roles,
    /// Host names, roles and clusters (`--limit`, a pattern)
    Hosts,
}

#[derive(Debug, Args)]
pub struct CompleteArgs {
    pub kind: Kind,
    /// The words of the command line being completed, after `rolecall`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
}

/// The value after `flag` in `words` (`-c FILE`, `--config=FILE`), the last one given.
fn value_of(words: &[String], flags: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        for f in flags {
            if w == f {
                out.extend(words.get(i + 1).cloned());
            } else if let Some(v) = w.strip_prefix(&format!("{f}=")) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// `rolecall __complete KIND WORDS..`: candidates one per line, for the completion scripts.
/// Quiet: a deployment that does not load, or no plugins, is no candidates, never a message.
pub fn complete(args: CompleteArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let words = args.words;
    let mut names: Vec<String> = Vec::new();
    match args.kind {
        Kind::Plugins => {
            let dirs: Vec<std::path::PathBuf> = value_of(&words, &["--plugin-dir"])
                .into_iter()
                .map(Into::into)
                .collect();
            let env = std::env::var(rolecall::plugin::PLUGIN_PATH_ENV).ok();
            let exe = std::env::current_exe().ok();
            let dirs = rolecall::plugin::dirs::search_path(&dirs, env.as_deref(), exe.as_deref());
            let registry = rolecall::plugin::loader::load(&dirs, false);
            names.extend(registry.plugins.iter().map(|p| p.name.clone()));
        }
        Kind::Roles | Kind::Hosts => {
            let config = value_of(&words, &["-c", "--config"])
                .pop()
                .unwrap_or_else(|| super::DEFAULT_DEPLOYMENT.to_string());
            if let Ok(d) = rolecall::deployment::load(std::path::Path::new(&config), None) {
                let roles = d.roles.keys().filter(|r| *r != rolecall::deployment::ALL_ROLE);
                names.extend(roles.cloned());
                if matches!(args.kind, Kind::Hosts) {
                    names.extend(d.clusters.keys().cloned());
                    names.extend(d.hosts.keys().cloned());
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    let mut text = names.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    printer.out(&text).context("writing to stdout")?;
    Ok(Exit::Ok)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page into DIR: rolecall.1 and one per command (rolecall-debug.1,
    /// rolecall-plugin-new.1, ...), as the top page refers to them
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Print the man page, roff (`rolecall man > rolecall.1`), or write them all (`--dir`).
pub fn man(args: ManArgs, printer: &Printer) -> anyhow::Result<Exit> {
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
        clap_mangen::generate_to(super::Cli::command(), &dir)
            .with_context(|| format!("writing the man pages into `{}`", dir.display()))?;
        return Ok(Exit::Ok);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(super::Cli::command())
        .render(&mut out)
        .context("rendering the man page")?;
    printer
        .out(&String::from_utf8_lossy(&out))
        .context("writing to stdout")?;
    Ok(Exit::Ok)
}
