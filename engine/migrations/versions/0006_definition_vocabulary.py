"""The process owner's vocabulary (decline reasons, cadence stages, element roles) per version.

Versions deployed before vocabularies existed get the vocabulary the code named for them then
(the shipped workflows/vocabulary.json of this revision), so the archive reads them as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 02:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SHIPPED = '{"decline_reasons": [{"en": "Salary", "key": "salary", "zh": "薪资"}, {"en": "Counter-offer", "key": "counter_offer", "zh": "原公司挽留"}, {"en": "Team", "key": "team", "zh": "团队氛围"}, {"en": "Career path", "key": "career_path", "zh": "发展路径"}, {"en": "Role clarity", "key": "role_clarity", "zh": "岗位不清晰"}, {"en": "Commute", "key": "commute", "zh": "通勤"}, {"en": "Family", "key": "family", "zh": "家庭原因"}, {"en": "Location", "key": "location", "zh": "工作地点"}, {"en": "Other", "key": "other", "zh": "其他"}], "messages": {"employee_left": ["employee_left"], "from_candidate": ["candidate_replied", "offer_response", "new_hire_feedback", "employee_left", "candidate_signal"], "offer_answer": ["offer_response"], "reply": ["candidate_replied"]}, "process": "offer_recall", "roles": {"consent_tasks": ["archive_decline", "renew_consent"], "contact_taken_back": ["take_back_contact"], "decline_archive": ["archive_decline"], "end_left": ["end_left_early", "end_left"], "end_left_early": ["end_left_early"], "end_retained": ["end_retained"], "manager_contact": ["manager_contact_candidate"], "reoffer_sent": ["send_reoffer"], "reply_assessment": ["assess_reply"], "signal_reaction": ["react_to_signal"], "start_date": ["wait_start_date"]}, "stages": [{"en": "Day-30 greeting", "key": "day_30", "task": "follow_up_day_30", "timer": "wait_day_30", "zh": "第 30 天问候"}, {"en": "Day-90 follow-up", "key": "day_90", "task": "follow_up_day_90", "timer": "wait_day_90", "zh": "第 90 天跟进"}, {"en": "Day-180 follow-up", "key": "day_180", "task": "follow_up_day_180", "timer": "wait_day_180", "zh": "第 180 天跟进"}, {"en": "Follow-up after snooze", "key": "snooze", "task": "follow_up_snooze", "timer": "wait_snooze", "zh": "暂缓后跟进"}], "template_decision": "follow_up_template"}'


def upgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.add_column(sa.Column("vocabulary_json", sa.Text(), nullable=True))
    definitions = sa.table("process_definitions", sa.column("vocabulary_json", sa.Text()))
    op.execute(definitions.update().values(vocabulary_json=SHIPPED))


def downgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.drop_column("vocabulary_json")
