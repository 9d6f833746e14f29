# Bus tests: the embedded backend on a temp SQLite file, the Kafka backend on
# librdkafka's mock cluster (with injected faults) and, when
# FITGATE_KAFKA_BROKERS is set, on a real broker (scripts/kafka.sh start).
fitgate_unit_test(NAME test_bus_embedded SOURCES bus/test_bus_embedded.c LIBS fitbus)
fitgate_unit_test(NAME test_bus_kafka_mock SOURCES bus/test_bus_kafka_mock.c LIBS fitbus)
fitgate_unit_test(NAME test_bus_kafka_real SOURCES bus/test_bus_kafka_real.c LIBS fitbus)
