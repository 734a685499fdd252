#!/usr/bin/env python3
"""Run diskit on a pseudo-terminal, answer its password prompt, print everything the terminal
showed (so a test can check the password was not echoed). Usage: tty-password.py PASSWORD CLI ARGS..."""
import os, pty, select, sys, time

password, cli, args = sys.argv[1].encode(), sys.argv[2], sys.argv[3:]
env = {k: v for k, v in os.environ.items() if k != 'DISKIT_PASSWORD'}
pid, fd = pty.fork()
if pid == 0:
    os.execvpe('node', ['node', cli, *args], env)
shown, sent, deadline = b'', False, time.time() + 60
while time.time() < deadline:
    if select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    if not sent and b'Password for' in shown:
        os.write(fd, password + b'\r')
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
