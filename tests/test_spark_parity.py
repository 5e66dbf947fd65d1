"""The PostgreSQL parity queries on Apache Spark (local mode, through Ibis) give DuckDB's frames.

One local[2] SparkSession for the module, on the Java that .ci/run installs (Debian's
openjdk-17-jre-headless); the responses are written to it through Store.replace_table, as
the PostgreSQL test writes them to its server."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from test_backends import QUERIES, assert_same_frames

from cxdata import schema
from cxdata.store import Store, connect, from_backend


def require_spark() -> None:
    """Skip the calling test when Java or pyspark is missing; in CI (CI=true), where .ci/run
    installs both, fail instead: a missing engine must not pass as a skip."""
    missing = [
        name
        for name, found in (
            ("java", shutil.which("java")),
            ("pyspark", importlib.util.find_spec("pyspark")),
        )
        if not found
    ]
    if not missing:
        return
    fix = {"java": "apt-get install -y openjdk-17-jre-headless",
           "pyspark": "pip install 'ibis-framework[pyspark]'"}
    what = " and ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} missing in CI: .ci/run installs Java (openjdk-17-jre-headless), "
                    "requirements-dev.txt ibis-framework[pyspark]")
    pytest.skip(f"{what} not installed ({'; '.join(fix[m] for m in missing)})")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local[2] SparkSession in UTC, its tables under a temporary directory."""
    require_spark()
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("cx-parity")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        # A short run of small queries: JIT tiers 2–4 and parallel GC only cost CPU here
        # (about half the JVM's CPU time on 2 cores); results do not depend on them.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_store(spark: Any, reference_frame: pd.DataFrame) -> Store:
    """A Store on the Spark session holding `reference_frame` as the responses."""
    import ibis

    s = from_backend(ibis.pyspark.connect(spark), location="spark local[2]")
    s.replace_table(schema.RESPONSES, reference_frame)
    return s


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_spark_matches_duckdb(store: Store, spark_store: Store, name: str) -> None:
    assert_same_frames(QUERIES[name](store), QUERIES[name](spark_store))


def test_missing_values_survive_the_write_to_spark(
    spark: Any, spark_store: Store, reference_frame: pd.DataFrame
) -> None:
    # Without Arrow transfer Spark stores a missing string as 'NaN' and nullable integers
    # as all NULL (cxdata.store._engine_ready).
    row = spark.sql(
        "SELECT count(*) AS n, count(nps) AS nps, count(ces) AS ces, count(region) AS region,"
        " count_if(region = 'NaN') AS nan_text FROM responses"
    ).collect()[0]
    assert row.asDict() == {
        "n": 20_000,
        "nps": int(reference_frame.nps.notna().sum()),
        "ces": int(reference_frame.ces.notna().sum()),
        "region": int(reference_frame.region.notna().sum()),
        "nan_text": 0,
    }
    assert 0 < row.region < row.n and 0 < row.ces < row.n  # the data has gaps to lose


def test_a_pyspark_url_reaches_the_running_session(spark: Any, spark_store: Store) -> None:
    url_store = connect(url="pyspark://")  # ibis takes the active session
    assert url_store.row_count(schema.RESPONSES) == 20_000
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.fallback.enabled") == "false"
