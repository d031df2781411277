package dev.featurestream.redis;

import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;

/** The planner's side of the sink: append-only rows into {@link RedisSink}. */
final class RedisTableSink implements DynamicTableSink {
    private final RedisSink.Settings settings;

    RedisTableSink(RedisSink.Settings settings) {
        this.settings = settings;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
        return ChangelogMode.insertOnly(); // the feature rows also feed the append-only offline sink
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(new RedisSink(settings));
    }

    @Override
    public DynamicTableSink copy() {
        return new RedisTableSink(settings);
    }

    @Override
    public String asSummaryString() {
        return RedisSinkFactory.IDENTIFIER;
    }
}
