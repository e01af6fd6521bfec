#!/usr/bin/env bash
# A Spark cluster on this machine, from the installed pyspark: a standalone master, two workers and a Thrift
# server (HiveThriftServer2, the JDBC/ODBC endpoint dbt-spark's `thrift` method and beeline connect to).
#
#     scripts/spark_cluster.sh start DIR    # returns once the Thrift server answers
#     cexflow build --target spark_thrift --spark-dir DIR ...
#     scripts/spark_cluster.sh stop DIR     # stops what start started, by process id
#     scripts/spark_cluster.sh status DIR   # the processes of DIR that are running
#
# Everything binds to 127.0.0.1 (SPARK_LOCAL_IP, the master's and the Thrift server's host, the web UIs
# follow SPARK_LOCAL_IP; the Thrift server's own UI is off), and every process is started by this script: no
# `sbin/start-*.sh`, no ssh to "workers". Under DIR: logs/ (one log per process), pids/ (the JVMs' process
# ids: spark-class execs java, so the pid of the background job is the JVM's), warehouse/ (the tables, as
# parquet, written by the executors and read by the Thrift server: one path all processes share),
# metastore_db/ (the Thrift server's Derby catalog) and work/ (the workers' executor folders).
#
# Environment (defaults in brackets): CEXFLOW_SPARK_THRIFT_PORT [10000], CEXFLOW_SPARK_MASTER_PORT [7077],
# CEXFLOW_SPARK_WORKER_MEMORY [1g: each worker offers this to executors], CEXFLOW_SPARK_EXECUTOR_MEMORY
# [768m], CEXFLOW_SPARK_DRIVER_MEMORY [4g: the Thrift server's heap, as the local session's driver],
# CEXFLOW_SPARK_SHUFFLE_PARTITIONS [4],
# CEXFLOW_SPARK_START_TIMEOUT [180 seconds], CEXFLOW_PYTHON [the project's .venv/bin/python: whose pyspark].
# The machine this was written on has 2 cores and 24 GiB: each worker offers one core.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${CEXFLOW_PYTHON:-$ROOT/.venv/bin/python}
HOST=127.0.0.1
THRIFT_PORT=${CEXFLOW_SPARK_THRIFT_PORT:-10000}
MASTER_PORT=${CEXFLOW_SPARK_MASTER_PORT:-7077}
TIMEOUT=${CEXFLOW_SPARK_START_TIMEOUT:-180}
# every JVM of this cluster carries this property, so that stop can tell a recorded pid is still ours
TAG="-Dcexflow.spark.cluster=$DIR"
PROCESSES="thriftserver worker2 worker1 master"  # the order stop goes in

pid_of() { cat "$DIR/pids/$1.pid" 2>/dev/null || true; }

# whether pid $1 is a live JVM of this cluster (not a reused pid)
ours() {
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$TAG "
}

port_answers() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

status() {
    local name pid
    for name in $PROCESSES; do
        pid=$(pid_of "$name")
        if ours "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: not running"; fi
    done
}

# the executors a worker started (its child JVMs): stopped with it
children_of() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }

stop_pid() {
    local name=$1 pid=$2 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 60); do
        ours "$pid" || { echo "stopped $name (pid $pid)"; return 0; }
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    echo "killed $name (pid $pid): it did not stop within 30 s"
}

stop() {
    local name pid child executors=""
    for name in $PROCESSES; do
        pid=$(pid_of "$name")
        if ours "$pid"; then
            if [ "${name#worker}" != "$name" ]; then
                for child in $(children_of "$pid"); do ours "$child" && executors="$executors $child"; done
            fi
            stop_pid "$name" "$pid"
        fi
        rm -f "$DIR/pids/$name.pid"
    done
    for pid in $executors; do
        if ours "$pid"; then stop_pid executor "$pid"; fi
    done
}

fail() {
    echo "spark_cluster.sh: $1 (logs in $DIR/logs); stopping what was started" >&2
    stop >&2
    exit 1
}

# start NAME CLASS_RUNNER ARGS...: in the background, its pid recorded; the JVM is the background job itself
launch() {
    local name=$1; shift
    local pid waited=0
    nohup "$@" > "$DIR/logs/$name.out" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$DIR/pids/$name.pid"
    # spark-class first runs Spark's launcher to build the java command line, then execs it: wait for the exec
    until ours "$pid"; do
        kill -0 "$pid" 2>/dev/null || fail "$name exited at once: see $DIR/logs/$name.out"
        [ "$waited" -lt 120 ] || { kill -TERM "$pid" 2>/dev/null; fail "$name did not start java within 60 s"; }
        sleep 0.5
        waited=$((waited + 1))
    done
}

wait_for() {
    local what=$1 name=$2 waited=0
    shift 2
    until "$@"; do
        ours "$(pid_of "$name")" || fail "$what exited: see $DIR/logs/$name.out"
        [ "$waited" -lt "$((TIMEOUT * 2))" ] || fail "$what did not answer within $TIMEOUT s"
        sleep 0.5
        waited=$((waited + 1))
    done
}

start() {
    local name
    for name in $PROCESSES; do
        if ours "$(pid_of "$name")"; then
            echo "spark_cluster.sh: $DIR already has a running cluster (scripts/spark_cluster.sh status $DIR)" >&2
            exit 1
        fi
    done
    SPARK_HOME=$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))') \
        || { echo "spark_cluster.sh: no pyspark for $PYTHON (make install-spark)" >&2; exit 1; }
    for port in "$THRIFT_PORT" "$MASTER_PORT"; do
        if port_answers "$port"; then
            echo "spark_cluster.sh: port $port on $HOST is taken (CEXFLOW_SPARK_THRIFT_PORT, CEXFLOW_SPARK_MASTER_PORT)" >&2
            exit 1
        fi
    done
    mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/warehouse" "$DIR/work"
    export SPARK_HOME SPARK_LOCAL_IP=$HOST SPARK_LOCAL_HOSTNAME=$HOST SPARK_PUBLIC_DNS=$HOST
    export SPARK_LOG_DIR=$DIR/logs SPARK_PID_DIR=$DIR/pids SPARK_WORKER_DIR=$DIR/work
    export SPARK_DAEMON_MEMORY=${CEXFLOW_SPARK_DAEMON_MEMORY:-512m}
    # the JVMs compile with C1 only (quicker to start and to warm up, on two cores). C1 alone shrinks the code
    # cache to 48 MB, which a Thrift server's generated code filled in 25 s: the JVM then stops compiling
    # ("CodeCache is full. Compiler has been disabled") and a statement once failed with java.lang.InternalError
    # (MethodHandle.linkToStatic); 240 MB is the JVM's default cache
    local jit="-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
    export SPARK_DAEMON_JAVA_OPTS="$TAG $jit"
    # the master's REST submission server (port 6066) is not needed: jobs come through the Thrift server
    export SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false"

    launch master "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
        --host "$HOST" --port "$MASTER_PORT" --webui-port 0
    wait_for "the master" master port_answers "$MASTER_PORT"
    for name in worker1 worker2; do
        launch "$name" "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
            --host "$HOST" --port 0 --webui-port 0 --cores 1 --memory "${CEXFLOW_SPARK_WORKER_MEMORY:-1g}" \
            --work-dir "$DIR/work/$name" "spark://$HOST:$MASTER_PORT"
    done
    for name in worker1 worker2; do
        wait_for "$name" "$name" grep -q "Successfully registered with master" "$DIR/logs/$name.out"
    done

    local warehouse=$DIR/warehouse
    # Spark's launcher sizes the Thrift server's heap from SPARK_DAEMON_MEMORY, not --driver-memory (it is a
    # daemon to it): without this line the server has the daemons' 512 MB, too little for the analysis of the
    # inference model's plan over many input formats
    SPARK_DAEMON_MEMORY=${CEXFLOW_SPARK_DRIVER_MEMORY:-4g} \
    launch thriftserver "$SPARK_HOME/bin/spark-submit" \
        --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
        --name cexflow-thrift-server \
        --master "spark://$HOST:$MASTER_PORT" \
        --driver-memory "${CEXFLOW_SPARK_DRIVER_MEMORY:-4g}" \
        --driver-java-options "$TAG -Dderby.system.home=$DIR $jit" \
        --conf spark.driver.host=$HOST --conf spark.driver.bindAddress=$HOST \
        --conf spark.ui.enabled=false \
        --conf spark.executor.memory="${CEXFLOW_SPARK_EXECUTOR_MEMORY:-768m}" \
        --conf spark.executor.cores=1 \
        --conf "spark.executor.extraJavaOptions=$TAG $jit" \
        --conf spark.sql.warehouse.dir="$warehouse" \
        --conf spark.sql.catalogImplementation=hive \
        --conf "spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName=$DIR/metastore_db;create=true" \
        --conf spark.sql.session.timeZone=UTC \
        --conf spark.sql.decimalOperations.allowPrecisionLoss=false \
        --conf spark.sql.ansi.enabled=false \
        --conf spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS \
        --conf spark.sql.shuffle.partitions="${CEXFLOW_SPARK_SHUFFLE_PARTITIONS:-4}" \
        --conf spark.sql.adaptive.enabled="${CEXFLOW_SPARK_ADAPTIVE:-true}" \
        --conf spark.eventLog.enabled="${CEXFLOW_SPARK_EVENT_LOG:-false}" \
        --conf spark.eventLog.dir="$DIR/logs" \
        --conf spark.hadoop.hive.server2.thrift.bind.host=$HOST \
        --conf spark.hadoop.hive.server2.thrift.port="$THRIFT_PORT" \
        --conf spark.hadoop.hive.server2.transport.mode=binary \
        --hiveconf hive.server2.thrift.bind.host=$HOST \
        --hiveconf hive.server2.thrift.port="$THRIFT_PORT"
    wait_for "the Thrift server" thriftserver port_answers "$THRIFT_PORT"
    echo "Spark cluster in $DIR: master spark://$HOST:$MASTER_PORT, 2 workers, Thrift server $HOST:$THRIFT_PORT"
}

case $command in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
