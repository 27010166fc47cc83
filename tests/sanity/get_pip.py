"""Offline stand-in for pypa's get-pip.py, used by ansible-test to put pip into the
virtual environments it creates. ansible-test downloads get-pip.py from a host this
project cannot reach; this does the same job from what the interpreter ships
(ensurepip) and then installs the pip version ansible-test asked for from the package
index pip is configured to use. Arguments are those get-pip.py takes (pip options and
requirement specifiers)."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
