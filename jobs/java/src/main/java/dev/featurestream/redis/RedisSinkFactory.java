package dev.featurestream.redis;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.RowType;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;

/**
 * The {@code featurestream-redis} table sink: each row of a feature view written to the online store
 * (see {@link RowEncoder} for the key and row, {@link RedisTarget} for the write, {@link
 * RedisSinkWriter} for when rows go out).
 *
 * <p>Every rule arrives as an option written by the Python compiler ({@code
 * featurestream.jobs.compiler}), which takes them from their owners: the key's prefix and suffix
 * ({@code online.keys.key_parts}), the write script ({@code online.scripts.WRITE_LUA}), the ttl (the
 * view's), the URL without its password and the name of the TaskManager's environment variable that
 * holds it ({@code featurestream.secrets}). The columns are {@code <entities>, feature_time,
 * created_at, <features>}, the first {@code key.columns} of them the entity key.
 */
public final class RedisSinkFactory implements DynamicTableSinkFactory {

    public static final String IDENTIFIER = "featurestream-redis";

    static final ConfigOption<String> URL =
            ConfigOptions.key("url").stringType().noDefaultValue().withDescription("Redis URL, without its password");
    static final ConfigOption<String> PASSWORD_ENV =
            ConfigOptions.key("password-env")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("the TaskManager environment variable holding the password (if set)");
    static final ConfigOption<String> KEY_PREFIX =
            ConfigOptions.key("key.prefix").stringType().noDefaultValue().withDescription("key = prefix + entity + suffix");
    static final ConfigOption<String> KEY_SUFFIX =
            ConfigOptions.key("key.suffix").stringType().noDefaultValue().withDescription("key = prefix + entity + suffix");
    static final ConfigOption<Integer> KEY_COLUMNS =
            ConfigOptions.key("key.columns").intType().noDefaultValue().withDescription("leading entity columns");
    static final ConfigOption<Long> TTL_MS =
            ConfigOptions.key("ttl-ms").longType().noDefaultValue().withDescription("key expiry after a write; <= 0: none");
    static final ConfigOption<String> WRITE_SCRIPT =
            ConfigOptions.key("write-script").stringType().noDefaultValue().withDescription("the Lua write rule");
    static final ConfigOption<Integer> MAX_ROWS =
            ConfigOptions.key("sink.buffer-flush.max-rows")
                    .intType()
                    .defaultValue(500)
                    .withDescription("rows buffered before a write");
    static final ConfigOption<Duration> INTERVAL =
            ConfigOptions.key("sink.buffer-flush.interval")
                    .durationType()
                    .defaultValue(Duration.ofMillis(50))
                    .withDescription("longest a row waits in the buffer");
    static final ConfigOption<Integer> CHUNK_ROWS =
            ConfigOptions.key("sink.chunk-rows")
                    .intType()
                    .defaultValue(200)
                    .withDescription("rows per script call");

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ReadableConfig o = helper.getOptions();
        String url = o.get(URL);
        try {
            RedisTarget.validate(url);
        } catch (IllegalArgumentException e) {
            throw new ValidationException(e.getMessage());
        }
        int maxRows = o.get(MAX_ROWS);
        int chunkRows = o.get(CHUNK_ROWS);
        long intervalMs = o.get(INTERVAL).toMillis();
        if (maxRows < 1 || chunkRows < 1 || intervalMs < 1) {
            throw new ValidationException(
                    "featurestream-redis: sink.buffer-flush.max-rows, sink.chunk-rows and sink.buffer-flush.interval "
                            + "must be positive, found "
                            + maxRows
                            + ", "
                            + chunkRows
                            + ", "
                            + intervalMs
                            + " ms");
        }
        RowType rowType =
                (RowType) context.getCatalogTable().getResolvedSchema().toPhysicalRowDataType().getLogicalType();
        RowEncoder encoder = new RowEncoder(o.get(KEY_PREFIX), o.get(KEY_SUFFIX), rowType, o.get(KEY_COLUMNS));
        return new RedisTableSink(
                new RedisSink.Settings(
                        url,
                        o.getOptional(PASSWORD_ENV).orElse(null),
                        o.get(WRITE_SCRIPT),
                        o.get(TTL_MS),
                        maxRows,
                        intervalMs,
                        chunkRows,
                        encoder));
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> out = new HashSet<>();
        out.add(URL);
        out.add(KEY_PREFIX);
        out.add(KEY_SUFFIX);
        out.add(KEY_COLUMNS);
        out.add(TTL_MS);
        out.add(WRITE_SCRIPT);
        return out;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> out = new HashSet<>();
        out.add(PASSWORD_ENV);
        out.add(MAX_ROWS);
        out.add(INTERVAL);
        out.add(CHUNK_ROWS);
        return out;
    }
}
