//! Hot reload: the OS's file events (inotify, FSEvents…) under a function's code restart its
//! processes. The events arrive through `notify` on a thread of the watcher's own, never on the
//! async workers, and cost nothing while no file changes.

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;
use tokio::sync::watch;

/// Folders whose files are not the function's code: dependencies, builds, caches.
const SKIPPED: [&str; 5] = ["node_modules", "target", "__pycache__", ".venv", ".git"];

/// A bound on the folders watched under one function's code.
const MAX_FOLDERS: usize = 2000;

/// An editor's save is several events: one restart for all that arrive this close together.
const SETTLE: Duration = Duration::from_millis(100);

/// Calls `on_change` whenever a file of the code under `roots` changes, until `stopped`'s
/// sender is dropped.
pub(super) fn spawn(
    roots: Vec<PathBuf>,
    name: String,
    stopped: watch::Receiver<()>,
    on_change: impl Fn() + Send + 'static,
) {
    let thread = std::thread::Builder::new()
        .name(format!("watch {name}"))
        .spawn({
            let name = name.clone();
            move || run(&roots, &name, &stopped, &on_change)
        });
    if let Err(err) = thread {
        tracing::warn!(function = %name, error = %err, "hot reload is off: cannot start its thread");
    }
}

fn run(roots: &[PathBuf], name: &str, stopped: &watch::Receiver<()>, on_change: &dyn Fn()) {
    let (events, received) = mpsc::channel();
    let mut watcher = match notify::recommended_watcher(events) {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::warn!(function = %name, error = %err, "hot reload is off: cannot watch files");
            return;
        }
    };
    let mut folders = 0;
    for root in roots {
        watch_tree(&mut watcher, root, &mut folders);
    }
    loop {
        match received.recv_timeout(Duration::from_millis(500)) {
            Ok(Ok(event)) => {
                if !is_code_change(&event, roots) {
                    continue;
                }
                // A new folder's files are watched too.
                if matches!(event.kind, EventKind::Create(_)) {
                    for path in event.paths.iter().filter(|path| path.is_dir()) {
                        if !is_skipped(path, roots) {
                            watch_tree(&mut watcher, path, &mut folders);
                        }
                    }
                }
                while received.recv_timeout(SETTLE).is_ok() {}
                tracing::info!(function = %name, "code changed; restarting the function");
                on_change();
            }
            Ok(Err(err)) => tracing::debug!(function = %name, error = %err, "file watcher error"),
            // The function is gone once its sender is.
            Err(RecvTimeoutError::Timeout) => {
                if stopped.has_changed().is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Watches `dir` and its folders, one by one, skipping [`SKIPPED`] ones: a recursive watch
/// would add one for every folder of `node_modules`.
fn watch_tree(watcher: &mut impl Watcher, dir: &Path, folders: &mut usize) {
    if *folders >= MAX_FOLDERS {
        return;
    }
    if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::debug!(folder = %dir.display(), error = %err, "cannot watch");
        return;
    }
    *folders += 1;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let skipped = SKIPPED.iter().any(|name| entry.file_name() == *name);
        if !skipped && entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            watch_tree(watcher, &entry.path(), folders);
        }
    }
}

/// Whether `path` is in a skipped folder below one of `roots` (folders above the code, named
/// `target` or otherwise, do not count).
fn is_skipped(path: &Path, roots: &[PathBuf]) -> bool {
    roots
        .iter()
        .filter_map(|root| path.strip_prefix(root).ok())
        .any(|below| {
            below
                .components()
                .any(|part| SKIPPED.iter().any(|skipped| part.as_os_str() == *skipped))
        })
}

/// A file created, written, renamed or removed, outside the skipped folders (opening and
/// reading a file, as an import does, is not a change).
fn is_code_change(event: &notify::Event, roots: &[PathBuf]) -> bool {
    let changed = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
    );
    changed
        && event
            .paths
            .iter()
            .any(|path| !is_skipped(path, roots) && path.extension().is_none_or(|ext| ext != "pyc"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, DataChange};

    fn event(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn writes_are_changes_but_reads_and_dependencies_are_not() {
        let roots = [PathBuf::from("/target/app")];
        let change = |kind, path| is_code_change(&event(kind, path), &roots);
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        // A folder named `target` above the code is not a build folder of the code.
        assert!(change(write, "/target/app/handlers.py"));
        assert!(change(
            EventKind::Create(CreateKind::File),
            "/target/app/lib/new.mjs"
        ));
        assert!(!change(
            EventKind::Access(AccessKind::Any),
            "/target/app/handlers.py"
        ));
        assert!(!change(write, "/target/app/node_modules/x/index.js"));
        assert!(!change(write, "/target/app/__pycache__/handlers.pyc"));
        assert!(!change(write, "/target/app/lib/handlers.pyc"));
    }
}
