"""Maps the top-level folders onto sub-packages of `trickstack`.

`algorithms/` imports as `trickstack.algorithms`, `ablations/` as `trickstack.ablations`, and so on,
both from an editable install of a checkout and from a wheel. Sub-packages (one folder per trick) are
found automatically, so adding a trick folder needs no change here.
"""

from setuptools import find_packages, setup

MAPPED_FOLDERS = {
    "algorithms": "trickstack.algorithms",
    "ablations": "trickstack.ablations",
    "benchmarks": "trickstack.benchmarks",
    "recipes": "trickstack.recipes",
}

package_dir = {"trickstack": "trickstack"}
packages = find_packages(include=["trickstack", "trickstack.*"])
for folder, package in MAPPED_FOLDERS.items():
    package_dir[package] = folder
    packages += [package] + [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
