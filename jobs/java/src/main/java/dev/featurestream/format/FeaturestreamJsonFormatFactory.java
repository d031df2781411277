package dev.featurestream.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

import java.util.Collections;
import java.util.Set;

/**
 * The {@code featurestream-json} table format: one JSON object per message (or line) parsed into
 * the table's typed columns, plus the raw payload and a dead-letter reason (NULL when valid): the
 * payload's own rules (not an object, a required field missing, a value of the wrong type, the
 * event time) and the view's key rules (a NULL event id, a NULL or blank entity key).
 *
 * <p>Every rule text comes from the one option {@code featurestream-json.schema}, written by the
 * Python compiler ({@code featurestream.jobs.compiler}), which owns the column list and the reasons.
 * The column types come from the table's own DDL.
 */
public final class FeaturestreamJsonFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "featurestream-json";

    public static final ConfigOption<String> SCHEMA =
            ConfigOptions.key("schema")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "JSON: {payload, reason, event_time, invalid, event_time_reason, "
                                    + "columns: [{name, missing, wrong}], keys: [{name, null, blank}]}"
                                    + " (written by the compiler)");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        final ParseRules rules = ParseRules.fromJson(formatOptions.get(SCHEMA));
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context ctx, DataType physicalDataType) {
                TypeInformation<RowData> produced = ctx.createTypeInformation(physicalDataType);
                RowType rowType = (RowType) physicalDataType.getLogicalType();
                return new FeaturestreamJsonDeserializer(rowType, produced, rules);
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.singleton(SCHEMA);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }
}
