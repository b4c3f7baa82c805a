"""The Python package under mpirun: each test starts one job of `jobs/` with Launch/mpirun (one MPI job
per process: MPI cannot start twice) and checks what every rank printed and how the job ended."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def mpirun(np_, script, *args, env=None, timeout=120):
    """Runs jobs/<script> on np_ ranks; returns (exit status, output). The timeout is the no-hang check."""
    result = subprocess.run(
        [str(ROOT / "Launch" / "mpirun"), "-np", str(np_), sys.executable, str(HERE / "jobs" / script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    return result.returncode, result.stdout


def test_dense_path_and_kv_against_closed_forms():
    status, out = mpirun(4, "dense.py")
    assert status == 0, out
    assert out.count("DENSE OK worker") == 3 and out.count("KV OK worker") == 3, out


def train_then_resume(np_, script, marker, workers, directory, resume_env=None):
    """Runs `script train DIR`, then a new job `script resume DIR` (with `resume_env`); each worker of
    both prints `<marker> ... params <digest>`, and every digest must be the same (the resumed run is
    bit-identical)."""
    status, trained = mpirun(np_, script, "train", str(directory))
    assert status == 0, trained
    status, resumed = mpirun(np_, script, "resume", str(directory), env=resume_env)
    assert status == 0, resumed
    # (mpirun may join two ranks' lines into one: find every digest, not one per line)
    digests = re.findall(re.escape(marker) + r" worker \d+ \w+ params ([0-9a-f]{16})", trained + resumed)
    assert trained.count(marker) == workers and resumed.count(marker) == workers and len(digests) == 2 * workers, trained + resumed
    assert len(set(digests)) == 1, f"resumed run differs: {set(digests)}"


def test_hybrid_steps_equal_a_serial_reference_and_resume_is_bit_identical(tmp_path):
    train_then_resume(5, "hybrid.py", "HYBRID OK", 3, tmp_path / "ckpt")


def test_torch_training_equals_a_single_process_reference_and_resumes_bit_identically(tmp_path):
    # The resumed job is what `Launch/mpirun --max-restarts` starts after a failure: a relaunch.
    train_then_resume(4, "torch_train.py", "TORCH OK", 2, tmp_path / "ckpt", resume_env={"HYBRIDSYNC_RESTART": "1"})


def test_a_killed_worker_ends_every_rank_with_an_exception_naming_it():
    status, out = mpirun(4, "killed.py", env={"HYBRIDSYNC_HEARTBEAT_TIMEOUT": "3"}, timeout=60)
    assert status != 0, out
    raised = [line for line in out.splitlines() if line.startswith("RAISED")]
    assert len(raised) == 2, out
    assert all("PeerDied" in line and "subject 'worker 2'" in line for line in raised), out
    assert out.count("THEN Unusable") == 2, out


LONG_WAITS = {"HYBRIDSYNC_REQUEST_TIMEOUT": "120", "HYBRIDSYNC_STALL_TIMEOUT": "120"}


def test_ctrl_c_on_launch_mpirun_ends_every_rank_during_their_waits():
    job = subprocess.Popen([str(ROOT / "Launch" / "mpirun"), "-np", "4", sys.executable, str(HERE / "jobs" / "interrupted.py"), "mpirun"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **LONG_WAITS})
    out = ""
    while out.count("WAITING") < 3:
        line = job.stdout.readline()
        assert line, out
        out += line
    start = time.monotonic()
    job.send_signal(signal.SIGINT)
    rest, _ = job.communicate(timeout=60)
    assert job.returncode != 0 and "NOT REACHED" not in rest, out + rest
    assert time.monotonic() - start < 20, f"took {time.monotonic() - start:.0f} s: {out + rest}"


def test_sigint_in_a_rank_during_a_wait_ends_the_job_at_once():
    start = time.monotonic()
    status, out = mpirun(4, "interrupted.py", "self", env=LONG_WAITS, timeout=60)
    assert status != 0 and out.count("WAITING") == 3 and "NOT REACHED" not in out, out
    assert "interrupted (SIGINT) during a wait in the library" in out and "killed by signal 2" in out, out  # exit 130
    assert time.monotonic() - start < 30, f"took {time.monotonic() - start:.0f} s: {out}"


def test_a_job_uses_the_mpi_that_mpi4py_initialised_and_leaves_it_running():
    status, out = mpirun(3, "mpi4py_first.py")
    assert status == 0 and out.count("MPI4PY OK") == 3, out


def test_c_programs_build_against_the_installed_copy(tmp_path):
    flags = subprocess.check_output([sys.executable, "-m", "hybridsync.config", "--include", "--libs"], text=True).split()
    program = tmp_path / "abi_check"
    subprocess.check_call(["cc", "-std=c11", "-Wall", "-Werror", str(ROOT / "Tests" / "C" / "abi_check.c"), *flags, "-lm", "-o", str(program)])
    status = subprocess.run([str(ROOT / "Launch" / "mpirun"), "-np", "3", str(program)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=60)
    assert status.returncode == 0 and status.stdout.count("ABI OK worker") == 2, status.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
