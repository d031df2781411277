package dev.featurestream.redis;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.utils.LogicalTypeParser;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The parity check's entry point (tests/integration/test_redis_sink_parity.py): the key and row
 * {@link RowEncoder} writes for rows given on stdin, so the test compares them with Python's
 * {@code online.keys}. Input: one JSON object {@code {prefix, suffix, entities, now, types: [Flink
 * SQL type], rows: [[value]]}}; a DOUBLE or FLOAT is its {@code float.hex()} text (or nan, inf,
 * -inf), a TIMESTAMP or DATE its epoch microseconds or days. Output: per row, the key's hex (or
 * {@code -} when keyless), a tab, the row's hex.
 */
public final class EncoderCheck {
    private EncoderCheck() {}

    public static void main(String[] args) throws Exception {
        JsonNode in = new ObjectMapper().readTree(System.in);
        List<RowType.RowField> fields = new ArrayList<>();
        List<LogicalType> types = new ArrayList<>();
        for (JsonNode t : in.get("types")) {
            LogicalType type = LogicalTypeParser.parse(t.asText(), EncoderCheck.class.getClassLoader());
            types.add(type);
            fields.add(new RowType.RowField("c" + fields.size(), type));
        }
        RowEncoder enc =
                new RowEncoder(
                        in.get("prefix").asText(), in.get("suffix").asText(), new RowType(fields), in.get("entities").asInt());
        long now = in.get("now").asLong();
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        HexFormat hex = HexFormat.of();
        for (JsonNode r : in.get("rows")) {
            GenericRowData row = new GenericRowData(types.size());
            for (int i = 0; i < types.size(); i++) {
                row.setField(i, value(r.get(i), types.get(i)));
            }
            byte[] key = enc.key(row);
            out.println((key == null ? "-" : hex.formatHex(key)) + "\t" + hex.formatHex(enc.row(row, now)));
        }
        out.flush();
    }

    private static Object value(JsonNode v, LogicalType t) {
        if (v == null || v.isNull()) {
            return null;
        }
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return StringData.fromString(v.asText());
            case BOOLEAN:
                return v.asBoolean();
            case TINYINT:
                return (byte) v.asInt();
            case SMALLINT:
                return (short) v.asInt();
            case INTEGER:
            case DATE:
                return v.asInt();
            case BIGINT:
                return v.asLong();
            case FLOAT:
                return (float) dbl(v.asText());
            case DOUBLE:
                return dbl(v.asText());
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                long micros = v.asLong();
                return TimestampData.fromEpochMillis(
                        Math.floorDiv(micros, 1000), (int) Math.floorMod(micros, 1000) * 1000);
            default:
                LogicalType e = ((ArrayType) t).getElementType();
                Object[] items = new Object[v.size()];
                for (int i = 0; i < items.length; i++) {
                    items[i] = value(v.get(i), e);
                }
                return new GenericArrayData(items);
        }
    }

    private static double dbl(String s) {
        switch (s) {
            case "nan":
                return Double.NaN;
            case "inf":
                return Double.POSITIVE_INFINITY;
            case "-inf":
                return Double.NEGATIVE_INFINITY;
            default:
                return Double.parseDouble(s);
        }
    }
}
