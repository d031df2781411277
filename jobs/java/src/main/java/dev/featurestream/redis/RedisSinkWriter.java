package dev.featurestream.redis;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Buffers encoded rows and hands them to Redis in batches: when {@code maxRows} are buffered, when
 * the oldest has waited {@code intervalMs} (a processing-time timer, run on the task's mailbox thread
 * like {@link #write}), and in {@link #flush} — which Flink calls before it forwards a checkpoint
 * barrier.
 *
 * <p><b>One batch in flight.</b> A batch is written by the writer's own I/O thread, so the task
 * thread encodes the next batch while Redis applies the last one (the round trip and the script's
 * time in Redis no longer stop the operator chain). At most one batch is in flight: before a batch
 * is handed over, the one before it must have been applied, so batches reach Redis in the order
 * the rows came (a key's rows stay in order) and a failure surfaces on the task thread at the next
 * hand-over, timer or flush. {@link #flush} waits for the batch in flight and writes what is
 * buffered, so every row before a checkpoint is in Redis when the checkpoint completes. Rows after
 * it are replayed after a crash; the write script is monotonic and idempotent, so the replay changes
 * nothing: at-least-once delivery with the effect of exactly once.
 *
 * <p>Counters (the names the Python sink had), counted on the task thread when a batch is known to
 * be applied: {@code featurestream_online_rows_written} (rows the script applied), {@code
 * featurestream_online_rows_keyless} (rows with a NULL or blank entity value, never stored), {@code
 * featurestream_online_store_full} (batches Redis refused as out of memory; the task then fails and
 * the job restarts with its backoff).
 */
final class RedisSinkWriter implements SinkWriter<RowData> {
    /** How long {@link #close} lets a batch in flight finish before it gives up on it (cancel/failover). */
    static final long CLOSE_WAIT_MS = 5_000;

    private final RowEncoder encoder;
    private final RedisTarget target;
    private final ProcessingTimeService time;
    private final int maxRows;
    private final long intervalMs;
    private final Counter written;
    private final Counter keyless;
    private final Counter full;
    private final ExecutorService io;
    private List<byte[]> keys;
    private List<byte[]> rows;
    private Future<Long> inFlight;
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
        this.io =
                Executors.newSingleThreadExecutor(
                        r -> {
                            Thread t = new Thread(r, "featurestream-redis-io");
                            t.setDaemon(true);
                            return t;
                        });
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
            handOver();
        } else if (!timerSet) {
            timerSet = true;
            time.registerTimer(time.getCurrentProcessingTime() + intervalMs, t -> onTimer());
        }
    }

    private void onTimer() throws IOException {
        timerSet = false;
        handOver();
    }

    @Override
    public void flush(boolean endOfInput) throws IOException {
        handOver();
        awaitInFlight();
    }

    /** Waits for the batch in flight (if any), then gives the buffered rows to the I/O thread. */
    private void handOver() throws IOException {
        if (keys.isEmpty()) {
            return;
        }
        awaitInFlight();
        List<byte[]> k = keys;
        List<byte[]> r = rows;
        keys = new ArrayList<>(maxRows);
        rows = new ArrayList<>(maxRows);
        inFlight = io.submit(() -> target.write(k, r));
    }

    /** Waits for the batch in flight and counts it; its failure is thrown here, on the task thread. */
    private void awaitInFlight() throws IOException {
        Future<Long> f = inFlight;
        if (f == null) {
            return;
        }
        inFlight = null;
        long applied;
        try {
            applied = f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            throw new InterruptedIOException("interrupted while a batch was written to Redis");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RedisTarget.OutOfMemory) {
                full.inc();
            }
            if (cause instanceof IOException) {
                throw (IOException) cause;
            }
            throw new IOException("writing a batch to Redis failed: " + cause, cause);
        }
        written.inc(applied);
    }

    @Override
    public void close() throws Exception {
        // Flink closes a writer after its last flush (end of input) or when the task is cancelled or
        // fails over; a batch still in flight then is either already flushed or will be replayed from
        // the last checkpoint, so it only gets a bounded moment to finish before the connection goes.
        io.shutdown();
        try {
            if (!io.awaitTermination(CLOSE_WAIT_MS, TimeUnit.MILLISECONDS)) {
                io.shutdownNow();
            }
        } catch (InterruptedException e) {
            io.shutdownNow();
            Thread.currentThread().interrupt();
        } finally {
            target.close();
        }
    }
}
