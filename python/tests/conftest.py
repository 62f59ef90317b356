import pathlib
import sys

# The axnn package lives in python/, beside these tests.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
