package dev.featurestream.redis;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.table.data.RowData;

/** The Sink V2 of {@code featurestream-redis}: one {@link RedisSinkWriter} per parallel subtask. */
final class RedisSink implements Sink<RowData> {
    private static final long serialVersionUID = 1L;

    /** Everything a writer needs, fixed when the job is planned. */
    static final class Settings implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final String url;
        final String passwordEnv;
        final String script;
        final long ttlMs;
        final int maxRows;
        final long intervalMs;
        final int chunkRows;
        final RowEncoder encoder;

        Settings(
                String url,
                String passwordEnv,
                String script,
                long ttlMs,
                int maxRows,
                long intervalMs,
                int chunkRows,
                RowEncoder encoder) {
            this.url = url;
            this.passwordEnv = passwordEnv;
            this.script = script;
            this.ttlMs = ttlMs;
            this.maxRows = maxRows;
            this.intervalMs = intervalMs;
            this.chunkRows = chunkRows;
            this.encoder = encoder;
        }
    }

    private final Settings settings;

    RedisSink(Settings settings) {
        this.settings = settings;
    }

    @Override
    public SinkWriter<RowData> createWriter(WriterInitContext context) {
        String password = settings.passwordEnv == null ? null : System.getenv(settings.passwordEnv);
        RedisTarget target =
                RedisTarget.open(settings.url, password, settings.script, settings.ttlMs, settings.chunkRows);
        return new RedisSinkWriter(settings, target, context.getProcessingTimeService(), context.metricGroup());
    }
}
