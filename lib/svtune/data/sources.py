"""Where a training pair came from: the `source` column of pairs.csv, named once for every stage."""

NAME_DESCRIPTION = "name~description"
NAME_MORE_DESCRIPTIONS = "name~description_more"
DESCRIPTION_CURATED = "description~curated"
NAME_ALTERNATIVE = "name~alternative"
CURATED = "curated_pair"                 # a row of the catalog's hand-curated sentence_pairs.csv
# Relations from the topic hierarchy (mining.RELATIONS gives each its default label).
TOPIC_MEMBER = "topic~member"
PEER_GROUP = "peer_group"
SAME_TOPIC = "same_topic"
SIBLING_TOPICS = "sibling_topics"
RELATIONS = (TOPIC_MEMBER, PEER_GROUP, SAME_TOPIC, SIBLING_TOPICS)
TEACHER_NEIGHBOUR = "teacher~neighbour"  # added by the teacher (train/teacher.py), not mined
