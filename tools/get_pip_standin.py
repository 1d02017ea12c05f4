"""Stand-in for pypa's get-pip.py, used by ansible-test to bootstrap pip.

ansible-test downloads get-pip.py from a host this project cannot reach; it
accepts a script saved in its cache instead. This one installs the pip that
ships with the interpreter (ensurepip) and then runs `pip install` with the
arguments ansible-test passes, so the requested pip version comes from the
package index like every other requirement.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
