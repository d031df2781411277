package dev.featurestream.redis;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Buffers encoded rows and writes them to Redis when {@code maxRows} are buffered, when the oldest
 * has waited {@code intervalMs} (a processing-time timer, run on the task's mailbox thread like
 * {@link #write}), and in {@link #flush} — which Flink calls before it forwards a checkpoint barrier,
 * so every row before a checkpoint is in Redis when the checkpoint completes. Rows after it are
 * replayed after a crash; the write script is monotonic and idempotent, so the replay changes
 * nothing: at-least-once delivery with the effect of exactly once.
 *
 * <p>Counters (the names the Python sink had): {@code featurestream_online_rows_written} (rows the
 * script applied), {@code featurestream_online_rows_keyless} (rows with a NULL or blank entity value,
 * never stored), {@code featurestream_online_store_full} (batches Redis refused as out of memory;
 * the task then fails and the job restarts with its backoff).
 */
final class RedisSinkWriter implements SinkWriter<RowData> {
    private final RowEncoder encoder;
    private final RedisTarget target;
    private final ProcessingTimeService time;
    private final int maxRows;
    private final long intervalMs;
    private final Counter written;
    private final Counter keyless;
    private final Counter full;
    private List<byte[]> keys;
    private List<byte[]> rows;
    private boolean timerSet;

    RedisSinkWriter(RedisSink.Settings s, RedisTarget target, ProcessingTimeService time, MetricGroup metrics) {
        this.encoder = s.encoder;
        this.target = target;
        this.time = time;
        this.maxRows = s.maxRows;
        this.intervalMs = s.intervalMs;
        this.written = metrics.counter("featurestream_online_rows_written");
        this.keyless = metrics.counter("featurestream_online_rows_keyless");
        this.full = metrics.counter("featurestream_online_store_full");
        this.keys = new ArrayList<>(maxRows);
        this.rows = new ArrayList<>(maxRows);
    }

    @Override
    public void write(RowData row, Context context) throws IOException {
        byte[] key = encoder.key(row);
        if (key == null) {
            keyless.inc();
            return;
        }
        keys.add(key);
        rows.add(encoder.row(row, System.currentTimeMillis()));
        if (keys.size() >= maxRows) {
            writeBuffered();
        } else if (!timerSet) {
            timerSet = true;
            time.registerTimer(time.getCurrentProcessingTime() + intervalMs, t -> onTimer());
        }
    }

    private void onTimer() throws IOException {
        timerSet = false;
        writeBuffered();
    }

    @Override
    public void flush(boolean endOfInput) throws IOException {
        writeBuffered();
    }

    private void writeBuffered() throws IOException {
        if (keys.isEmpty()) {
            return;
        }
        long applied;
        try {
            applied = target.write(keys, rows);
        } catch (RedisTarget.OutOfMemory e) {
            full.inc();
            throw e;
        }
        written.inc(applied);
        keys = new ArrayList<>(maxRows);
        rows = new ArrayList<>(maxRows);
    }

    @Override
    public void close() {
        target.close();
    }
}
