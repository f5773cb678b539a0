"""The guest image: a Debian root file system built by mmdebstrap from a recipe (recipe),
finished and packed into ext4 as root of a build namespace (finish, ext4, with userns and
staging for ordinary users), and described file by file (manifest) to compare two builds."""

from .ext4 import make_ext4
from .recipe import Image, Recipe, build, ensure

__all__ = ["Image", "Recipe", "build", "ensure", "make_ext4"]
