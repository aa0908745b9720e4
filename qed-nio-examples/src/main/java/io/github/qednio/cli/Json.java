package io.github.qednio.cli;

import java.util.LinkedHashMap;
import java.util.Map;

/** A flat JSON object writer for the tool's {@code --output=json} (strings, numbers and booleans only). */
final class Json {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    Json put(String key, Object value) {
        fields.put(key, value);
        return this;
    }

    /** Renders the object on one line per field, as qemu-img does. */
    String render() {
        return render("");
    }

    /** Renders the object on one line per field, each line after the first prefixed with {@code indent}. */
    String render(String indent) {
        StringBuilder sb = new StringBuilder("{");
        String sep = "\n    " + indent;
        for (Map.Entry<String, Object> e : fields.entrySet()) {
            sb.append(sep).append(quote(e.getKey())).append(": ").append(value(e.getValue()));
            sep = ",\n    " + indent;
        }
        return sb.append("\n").append(indent).append("}").toString();
    }

    /** Renders a list of objects as qemu-img does ({@code info --backing-chain}, {@code check} of a chain). */
    static String renderArray(java.util.List<Json> objects) {
        StringBuilder sb = new StringBuilder("[");
        String sep = "\n    ";
        for (Json j : objects) {
            sb.append(sep).append(j.render("    "));
            sep = ",\n    ";
        }
        return sb.append("\n]").toString();
    }

    /** Renders the object on a single line, as qemu-img map does for its entries. */
    String renderCompact() {
        StringBuilder sb = new StringBuilder("{ ");
        String sep = "";
        for (Map.Entry<String, Object> e : fields.entrySet()) {
            sb.append(sep).append(quote(e.getKey())).append(": ").append(value(e.getValue()));
            sep = ", ";
        }
        return sb.append("}").toString();
    }

    private static String value(Object v) {
        if (v instanceof Number || v instanceof Boolean) {
            return v.toString();
        }
        return quote(String.valueOf(v));
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
