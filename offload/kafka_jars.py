"""The Java tools and the Kafka jars the local broker runs from.

Maven resolves the jars once per Kafka version from Maven Central with the small pom in
`offload/kafka/pom.xml`; they stay in Maven's local repository (~/.m2), and only the resulting
classpath is cached in the broker directory, so a warm `offload kafka up` runs no Maven.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from offload.broker_config import MIN_JAVA, BrokerLayout, java_major_version
from plumbing.kafka_errors import JarResolutionFailed, ToolMissing

logger = logging.getLogger(__name__)

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
"""The pom that names the broker's jars; Maven resolves it, nothing is compiled."""

_MAVEN_TIMEOUT_S = 900.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class JavaTools:
    """Absolute paths of the programs the local broker needs."""

    java: str
    mvn: str
    java_version: int


def find_tools(search_path: str | None = None) -> JavaTools:
    """Find `java` (17 or newer) and `mvn`.

    Args:
        search_path: the PATH to search; default the process's PATH.

    Raises:
        ToolMissing: naming the missing program, or the Java version found.
    """
    java = shutil.which("java", path=search_path)
    if java is None:
        raise ToolMissing("java", "was not found on the PATH")
    mvn = shutil.which("mvn", path=search_path)
    if mvn is None:
        raise ToolMissing("mvn", "(Maven) was not found on the PATH")
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing("java", f"at {java} could not be run: {exc}") from exc
    major = java_major_version(done.stderr + done.stdout)
    if major is None or major < MIN_JAVA:
        found = (done.stderr or done.stdout).strip().splitlines()[:1] or ["no version printed"]
        raise ToolMissing("java", f"at {java} is not Java {MIN_JAVA}+ (it says: {found[0]})")
    return JavaTools(java=java, mvn=mvn, java_version=major)


def cached_classpath(layout: BrokerLayout, version: str) -> str | None:
    """The cached classpath of Kafka `version`, if every jar on it still exists."""
    path = layout.classpath_file(version)
    if not path.is_file():
        return None
    classpath = path.read_text(encoding="utf-8").strip()
    jars = classpath.split(os.pathsep) if classpath else []
    if not jars or not all(Path(jar).is_file() for jar in jars):
        logger.info("cached classpath %s names missing jars; resolving again", path)
        return None
    return classpath


def resolve_classpath(tools: JavaTools, layout: BrokerLayout, version: str, pom: Path = POM) -> str:
    """Resolve the jars of Kafka `version` with Maven and cache their classpath.

    Side effects: Maven downloads missing jars into its local repository; the classpath is
    written to `layout.classpath_file(version)`.

    Raises:
        JarResolutionFailed: with the end of Maven's output.
    """
    layout.root.mkdir(parents=True, exist_ok=True)
    target = layout.classpath_file(version)
    partial = target.with_suffix(".partial")
    command = [
        tools.mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:build-classpath",
        f"-Dmdep.outputFile={partial}",
        f"-Dkafka.version={version}",
    ]
    logger.info("resolving Kafka %s jars: %s", version, " ".join(command))
    if not pom.is_file():
        raise JarResolutionFailed(version, pom, "the pom file does not exist")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise JarResolutionFailed(version, pom, f"no answer in {_MAVEN_TIMEOUT_S:g} s") from exc
    if done.returncode != 0 or not partial.is_file():
        summary = _maven_errors(done.stdout + done.stderr)
        raise JarResolutionFailed(version, pom, summary or f"exit code {done.returncode}")
    partial.replace(target)
    return target.read_text(encoding="utf-8").strip()


def _maven_errors(output: str) -> str:
    """Maven's own error lines, without colour codes and the generic help that follows them."""
    lines = []
    for line in _ANSI.sub("", output).splitlines():
        if "To see the full stack trace" in line:
            break
        if line.strip() not in ("", "[ERROR]"):
            lines.append(line.rstrip())
    return "\n".join(lines[-15:])
