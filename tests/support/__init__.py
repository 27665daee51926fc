"""Helpers shared by the test files (not tests themselves): paths, micro models, runs, a scripted teacher."""

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
