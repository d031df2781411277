package dev.featurestream.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.data.binary.BinaryStringDataUtil;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.utils.DateTimeUtils;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses one JSON object per message into the row of a {@code featurestream-json} table, with the
 * semantics of the SQL it replaces: a field's text is what {@code JSON_VALUE(payload, '$.name')}
 * returns (NULL for absent, JSON null, objects and arrays; numbers as Java renders them), and it is
 * typed with Flink SQL's own {@code TRY_CAST} functions (trimmed, {@link BinaryStringDataUtil}).
 * Timestamps are epoch milliseconds or ISO-8601 UTC text ({@code 2026-01-01T00:00:00.123Z}).
 *
 * <p>Never throws on bad input: the row then carries the first reason that applies (in column
 * order, then the event-time rule) and the job routes it to the dead-letter topic. The event-time
 * column is never NULL (epoch 0 when unparseable), so the watermark is defined on every row.
 */
final class FeaturestreamJsonDeserializer implements DeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;
    private static final TimestampData EPOCH = TimestampData.fromEpochMillis(0L);

    private final RowType rowType;
    private final TypeInformation<RowData> producedType;
    private final ParseRules rules;

    private transient JsonFactory json;
    private transient Map<String, Integer> ruleIndex;
    private transient LogicalType[] types; // per rule column
    private transient int[] outIndex; // per rule column: position in the row, or -1
    private transient int payloadIndex;
    private transient int reasonIndex;
    private transient int eventTimeRule;
    private transient String[] raw;

    FeaturestreamJsonDeserializer(
            RowType rowType, TypeInformation<RowData> producedType, ParseRules rules) {
        this.rowType = rowType;
        this.producedType = producedType;
        this.rules = rules;
        setUp(); // fails at planning time, not on the TaskManager, when the DDL and rules disagree
    }

    @Override
    public void open(InitializationContext context) {
        setUp();
    }

    private void setUp() {
        json = new JsonFactory();
        List<String> names = rowType.getFieldNames();
        List<ParseRules.Column> cols = rules.columns;
        ruleIndex = new HashMap<>();
        types = new LogicalType[cols.size()];
        outIndex = new int[cols.size()];
        eventTimeRule = -1;
        for (int i = 0; i < cols.size(); i++) {
            String name = cols.get(i).name;
            ruleIndex.put(name, i);
            outIndex[i] = names.indexOf(name);
            if (outIndex[i] < 0) {
                throw new ValidationException(
                        "featurestream-json: column '" + name + "' of the schema option is not a"
                                + " column of the table " + names);
            }
            types[i] = rowType.getTypeAt(outIndex[i]);
            if (name.equals(rules.eventTime)) {
                eventTimeRule = i;
            }
            checkSupported(name, types[i]);
        }
        if (eventTimeRule < 0) {
            throw new ValidationException(
                    "featurestream-json: event_time '" + rules.eventTime + "' is not a schema column");
        }
        payloadIndex = names.indexOf(rules.payload);
        reasonIndex = names.indexOf(rules.reason);
        raw = new String[cols.size()];
    }

    private static void checkSupported(String name, LogicalType type) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
            case BOOLEAN:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
            case DECIMAL:
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return;
            default:
                throw new ValidationException(
                        "featurestream-json: column '" + name + "' has type " + type
                                + "; supported: STRING, BOOLEAN, integers, FLOAT/DOUBLE/DECIMAL,"
                                + " TIMESTAMP/TIMESTAMP_LTZ");
        }
    }

    @Override
    public RowData deserialize(byte[] message) {
        GenericRowData row = new GenericRowData(rowType.getFieldCount());
        if (payloadIndex >= 0 && message != null) {
            row.setField(payloadIndex, StringData.fromBytes(message));
        }
        java.util.Arrays.fill(raw, null);
        boolean object = message != null && (readFields(message) || readDecoded(message));
        String reason = null;
        TimestampData eventTime = null;
        if (!object) {
            reason = rules.invalid;
        } else {
            for (int i = 0; i < raw.length; i++) {
                ParseRules.Column col = rules.columns.get(i);
                String text = raw[i];
                Object value = null;
                if (text == null) {
                    if (reason == null && col.missing != null) {
                        reason = col.missing;
                    }
                } else {
                    value = convert(text, types[i]);
                    if (value == null && reason == null && col.wrong != null) {
                        reason = col.wrong + text;
                    }
                }
                if (i == eventTimeRule) {
                    eventTime = text == null ? null : parseTimestamp(text);
                } else {
                    row.setField(outIndex[i], value);
                }
            }
            if (reason == null && eventTime == null) {
                reason = rules.eventTimeReason;
            }
        }
        row.setField(outIndex[eventTimeRule], eventTime == null ? EPOCH : eventTime);
        if (reasonIndex >= 0 && reason != null) {
            row.setField(reasonIndex, StringData.fromString(reason));
        }
        return row;
    }

    /** Reads the top-level fields named by the rules into {@link #raw}; false unless an object. */
    private boolean readFields(byte[] message) {
        try (JsonParser p = json.createParser(message)) {
            return readObject(p);
        } catch (Exception e) {
            return false;
        }
    }

    /** The same over the payload decoded as the raw format decodes it (invalid UTF-8 replaced). */
    private boolean readDecoded(byte[] message) {
        java.util.Arrays.fill(raw, null);
        try (JsonParser p = json.createParser(new String(message, StandardCharsets.UTF_8))) {
            return readObject(p);
        } catch (Exception e) {
            java.util.Arrays.fill(raw, null);
            return false;
        }
    }

    private boolean readObject(JsonParser p) throws java.io.IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            return false;
        }
        JsonToken t;
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            Integer i = ruleIndex.get(p.currentName());
            JsonToken v = p.nextToken();
            if (i == null) {
                p.skipChildren();
                continue;
            }
            raw[i] = scalarText(p, v);
        }
        return t == JsonToken.END_OBJECT;
    }

    /** What JSON_VALUE returns for a scalar: its text; NULL for null, objects and arrays. */
    private static String scalarText(JsonParser p, JsonToken v) throws java.io.IOException {
        switch (v) {
            case VALUE_STRING:
                return p.getText();
            case VALUE_NUMBER_INT:
                return p.getNumberValue().toString();
            case VALUE_NUMBER_FLOAT:
                return p.getDecimalValue().toString(); // as JSON_VALUE renders it (1E+20, 12.5)
            case VALUE_TRUE:
                return "true";
            case VALUE_FALSE:
                return "false";
            case START_OBJECT:
            case START_ARRAY:
                p.skipChildren();
                return null;
            default:
                return null;
        }
    }

    /** TRY_CAST(text AS type) with Flink SQL's own functions; null when it does not cast. */
    private static Object convert(String text, LogicalType type) {
        try {
            switch (type.getTypeRoot()) {
                case CHAR:
                case VARCHAR:
                    return StringData.fromString(text);
                case TIMESTAMP_WITHOUT_TIME_ZONE:
                case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                    return parseTimestamp(text);
                default:
                    break;
            }
            BinaryStringData s = BinaryStringData.fromString(text).trim();
            switch (type.getTypeRoot()) {
                case BOOLEAN:
                    return BinaryStringDataUtil.toBoolean(s);
                case TINYINT:
                    return BinaryStringDataUtil.toByte(s);
                case SMALLINT:
                    return BinaryStringDataUtil.toShort(s);
                case INTEGER:
                    return BinaryStringDataUtil.toInt(s);
                case BIGINT:
                    return BinaryStringDataUtil.toLong(s);
                case FLOAT:
                    return BinaryStringDataUtil.toFloat(s);
                case DOUBLE:
                    return BinaryStringDataUtil.toDouble(s);
                case DECIMAL:
                    DecimalType d = (DecimalType) type;
                    DecimalData dec =
                            BinaryStringDataUtil.toDecimal(s, d.getPrecision(), d.getScale());
                    return dec;
                default:
                    return null;
            }
        } catch (RuntimeException e) {
            return null;
        }
    }

    /**
     * Epoch milliseconds (TO_TIMESTAMP_LTZ(TRY_CAST(text AS BIGINT), 3)), else ISO-8601 UTC text
     * (TRY_CAST(REPLACE(REPLACE(text, 'T', ' '), 'Z', '') AS TIMESTAMP(3)) read as UTC).
     */
    static TimestampData parseTimestamp(String text) {
        try {
            return TimestampData.fromEpochMillis(
                    BinaryStringDataUtil.toLong(BinaryStringData.fromString(text).trim()));
        } catch (RuntimeException notEpoch) {
            // fall through to ISO-8601
        }
        try {
            String iso = text.replace('T', ' ').replace("Z", "").trim();
            return DateTimeUtils.parseTimestampData(iso, 3);
        } catch (RuntimeException e) {
            return null;
        }
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
