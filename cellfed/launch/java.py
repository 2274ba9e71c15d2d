"""Find a Java runtime new enough for a server, and resolve its jars with Maven."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from cellfed.config import PROJECT_ROOT
from cellfed.launch.process import LaunchError

ENGINES_POM = PROJECT_ROOT / "config" / "engines" / "pom.xml"
JVM_DIRS = ("/usr/lib/jvm/*/bin/java", "/usr/local/lib/jvm/*/bin/java", "/opt/java/*/bin/java")


def java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def find_java(minimum: int, configured: str | None = None) -> str:
    """The configured Java, else JAVA_HOME's, else the newest installed one, if >= minimum."""
    if configured:
        if (java_major(configured) or 0) < minimum:
            raise LaunchError(f"ENGINE_JAVA={configured} is not a Java {minimum}+ runtime")
        return configured
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    for pattern in JVM_DIRS:
        candidates.extend(sorted(glob.glob(pattern)))
    found = [(java_major(c) or 0, c) for c in dict.fromkeys(candidates)]
    usable = sorted((v, c) for v, c in found if v >= minimum)
    if not usable:
        seen = ", ".join(f"{c} ({v or '?'})" for v, c in found) or "none"
        raise LaunchError(f"no Java {minimum}+ runtime found (saw: {seen}); set ENGINE_JAVA")
    return usable[-1][1]


def maven_classpath(
    profile: str, home: Path, extra: tuple[str, ...] = (), cache_name: str | None = None
) -> str:
    """The runtime classpath of a profile of config/engines/pom.xml, resolved once and cached."""
    cache = home / (cache_name or f"{profile}.cp")
    if not cache.is_file():
        home.mkdir(parents=True, exist_ok=True)
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LaunchError("Maven (mvn) is needed to fetch the server's jars; install it")
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(ENGINES_POM),
            f"-P{profile}",
            "dependency:build-classpath",
            f"-Dmdep.outputFile={cache}",
            *extra,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not cache.is_file():
            raise LaunchError(
                f"Maven could not resolve profile {profile}:\n{result.stdout[-3000:]}"
                f"{result.stderr[-2000:]}"
            )
    return cache.read_text().strip()
