"""The code interpreter's sandbox and its containers.

- command.py: the bubblewrap command line that isolates model-written Python (no network, no host
  filesystem but the container's folder at /mnt/data, an unprivileged uid, rlimits);
- repl.py: the stdlib-only program that runs inside it, one per container, keeping variables
  between calls like the real interpreter;
- session.py: one such process seen from the server (asyncio, wall-clock timeouts, restarts);
- folder.py: the container folders on the host, read and written without following links the
  sandboxed code may plant;
- containers.py: containers and their files (store rows + folders + sessions), with expiry.
"""
