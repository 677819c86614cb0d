import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
# deepxc's own compile of every bundle the tests build treats a warning as an error (the
# generated Makefile and CMakeLists.txt do not force -Werror on their users).
os.environ.setdefault("DEEPXC_EXTRA_CFLAGS", "-Werror")
